"""Every Redis key the service writes, in one place, so the data rule can be audited at a glance."""

from __future__ import annotations

PREFIX = "no:"

# arq's own keys (queue name is ours; arq derives job/result/retry/in-progress keys from the job id).
QUEUE = f"{PREFIX}queue"
ARQ_JOB = "arq:job:"
ARQ_RESULT = "arq:result:"
ARQ_RETRY = "arq:retry:"
ARQ_IN_PROGRESS = "arq:in-progress:"


def seen_event(event_id: str) -> str:
    """Dedupe key of a Nooks `webhook-id`."""
    return f"{PREFIX}seen:{event_id}"


def event(event_id: str) -> str:
    """A queued Nooks event, as Nooks sent it (kept until logged; dead letters keep it)."""
    return f"{PREFIX}event:{event_id}"


def call_state(team_id: str, call_id: str) -> str:
    """The call's ledger, the exactly-once record: `done`, `attempts`, and `step:<name>` per step done."""
    return f"{PREFIX}call:{team_id}:{call_id}"


def call_lock(team_id: str, call_id: str) -> str:
    return f"{PREFIX}lock:call:{team_id}:{call_id}"


def connection(team_id: str, rep_email: str) -> str:
    """A rep's OAuth connection: encrypted tokens, status, scopes."""
    return f"{PREFIX}conn:{team_id}:{rep_email}"


CONNECTIONS = f"{PREFIX}conn-index"  # zset of "team\trep" with a stored connection (score 0: sorted by name)
LEGACY_CONNECTIONS = f"{PREFIX}conns"  # the set it replaced, folded into it once at start
# zset "team\trep" → when its stored refresh token was issued (epoch seconds): the keep-alive's schedule
REFRESH_ISSUED = f"{PREFIX}refresh-issued"
TEAMS = f"{PREFIX}teams"  # zset of teams with a stored connection (score 0), paged on /ops


def team_reps(team_id: str) -> str:
    """zset of the team's reps with a stored connection (score 0): counted and paged without a walk."""
    return f"{PREFIX}team-reps:{team_id}"


def refresh_lock(team_id: str, rep_email: str) -> str:
    return f"{PREFIX}lock:refresh:{team_id}:{rep_email}"


def users(team_id: str) -> str:
    """The team's Outreach users: user id → {id, email, name}."""
    return f"{PREFIX}users:{team_id}"


def org_binding(team_id: str) -> str:
    """The Outreach user (id, email, name) whose consent bound the team to its org: later consents must come from
    the same org (ingress/oauth_flow.py)."""
    return f"{PREFIX}org:{team_id}"


def mapping(team_id: str) -> str:
    """User Mapping: rep email → Outreach user id."""
    return f"{PREFIX}mapping:{team_id}"


def outcome_rules(team_id: str) -> str:
    """The team's call-outcome rules: disposition id → after_call (ids, durations, notes; JSON)."""
    return f"{PREFIX}outcome-rules:{team_id}"


def owner_reps(team_id: str, user_id: int | str) -> str:
    """The User Mapping read the other way: an Outreach user id → the rep emails mapped to it (kept with it)."""
    return f"{PREFIX}owner:{team_id}:{user_id}"


def users_synced(team_id: str) -> str:
    """When the team's users were last read from Outreach: the newest `updatedAt` seen (a timestamp)."""
    return f"{PREFIX}users-synced:{team_id}"


def users_staged(team_id: str, nonce: str) -> str:
    """A whole directory being read (id, email, name), page by page, until its consent is confirmed: then it
    replaces the team's users in one RENAME; dropped on a refusal, and expires on its own."""
    return f"{PREFIX}users-staged:{team_id}:{nonce}"


def users_sync_lock(team_id: str) -> str:
    return f"{PREFIX}lock:users-sync:{team_id}"


OWNER_INDEX_BUILT = f"{PREFIX}owner-index"  # set once every User Mapping written before the index is indexed
SUBSCRIBERS_INDEXED = f"{PREFIX}whsub-reps-indexed"  # set once subscriptions kept before the index are indexed


def connect_link(nonce: str) -> str:
    return f"{PREFIX}link:{nonce}"


def oauth_state(nonce: str) -> str:
    return f"{PREFIX}oauthstate:{nonce}"


def parked(team_id: str, rep_email: str) -> str:
    """event id → reason, for a rep whose events wait for a connection or a mapping."""
    return f"{PREFIX}parked:{team_id}:{rep_email}"


PARKED_REPS = f"{PREFIX}parked-rep-index"  # zset of "team\trep" with parked events (score 0), paged on /ops
LEGACY_PARKED_REPS = f"{PREFIX}parked-reps"  # the set it replaced, folded into it once at start
PARKED_SINCE = f"{PREFIX}parked-since"  # zset "team\trep\tevent id" → epoch seconds first parked (retention)
DEAD_LETTERS = f"{PREFIX}dead"  # hash event id → dead letter (ids and reason)
FLAGGED = f"{PREFIX}flagged"  # hash event id → flags (ids and reasons)
IGNORED = f"{PREFIX}ignored"  # capped list of ignored event ids and types
STATS = f"{PREFIX}stats"  # hash of counters



def rep_member(team_id: str, rep_email: str) -> str:
    return f"{team_id}\t{rep_email}"


def split_member(member: str) -> tuple[str, str]:
    team_id, _, rep_email = member.partition("\t")
    return team_id, rep_email


# --- Outreach webhooks (docs/outreach-webhooks.md) ---------------------------------------------------------

def webhook_subscription(webhook_id: str) -> str:
    """Outreach webhook id → {"team\\trep": {"resource", encrypted secret}} (ids collide across orgs)."""
    return f"{PREFIX}whsub:{webhook_id}"


def rep_subscriptions(team_id: str, rep_email: str) -> str:
    """A rep's subscriptions: resource → Outreach webhook id."""
    return f"{PREFIX}whsubs:{team_id}:{rep_email}"


def team_subscribers(team_id: str) -> str:
    """The team's reps with subscriptions stored (normally the holder alone): /ops reads these, not every rep."""
    return f"{PREFIX}whsub-reps:{team_id}"


def webhook_team(team_id: str) -> str:
    """The team's subscription holder (the rep whose token holds its one set) and the last check's outcome:
    `holder`, `since`, `checked_at`, `problem` (a short reason, never Outreach data)."""
    return f"{PREFIX}whteam:{team_id}"


def webhook_team_lock(team_id: str) -> str:
    """Held while a process creates, moves or removes the team's subscriptions (every web and worker process)."""
    return f"{PREFIX}lock:whteam:{team_id}"


def outreach_seen(team_id: str, event_id: str) -> str:
    """Dedupe key of an `Outreach-Webhook-Event-Id` (or of the body's HMAC when the header is missing)."""
    return f"{PREFIX}ohseen:{team_id}:{event_id}"


def outreach_body_seen(team_id: str, body_mac: str) -> str:
    """Dedupe key of a signed delivery body (its HMAC under the subscription's secret): replays with a fresh
    `Outreach-Webhook-Event-Id` are repeats."""
    return f"{PREFIX}ohbody:{team_id}:{body_mac}"


def change_claim(change_key: str) -> str:
    """Which job notifies the dialer of one Outreach change (a hash of team, resource, id and updatedAt)."""
    return f"{PREFIX}change:{change_key}"


def reconcile_cursor(team_id: str, rep_email: str) -> str:
    """resource → the last `updatedAt` reconciled for this rep (a timestamp, nothing else)."""
    return f"{PREFIX}cursor:{team_id}:{rep_email}"


def reconcile_lock(team_id: str, rep_email: str) -> str:
    return f"{PREFIX}lock:reconcile:{team_id}:{rep_email}"


NOTIFY_GONE = f"{PREFIX}notify-gone"  # hash notify URL → epoch seconds it answered 410


# --- operators (/ops, docs/ops.md) ---------------------------------------------------------------------------
# Every one holds ids, reasons, counts and times only: never a value read from Outreach.

DEAD_LETTER_INDEX = f"{PREFIX}dead-index"  # zset event id → dead_at: pages dead letters without reading them all
FLAGGED_INDEX = f"{PREFIX}flagged-index"  # zset event id → at
DEAD_LETTER_FIELDS_INDEXED = f"{PREFIX}dead-fields-indexed"  # set once dead letters kept before are indexed


def dead_letter_field_index(field: str, value: str) -> str:
    """zset event id → dead_at of the dead letters with this reason, team_id or rep_email (a filter's page)."""
    return f"{PREFIX}dead-ix:{field}:{value}"
RETRIES = f"{PREFIX}retries"  # zset event id → next attempt (epoch s): events waiting to be tried again
PAUSED = f"{PREFIX}paused"  # hash "team\trep" → {"by", "at"}: reps an operator paused
AUDIT = f"{PREFIX}audit"  # stream of operator actions (who, what, when, how many)
WORKERS = f"{PREFIX}workers"  # zset worker id → last heartbeat (epoch s)
INGEST_TOTALS = f"{PREFIX}ingest"  # hash "source:outcome" → count, since the start
LAST_CALL = f"{PREFIX}last-call"  # hash "team\trep" → epoch s of the rep's last call logged


def rate_budget(team_id: str, rep_email: str) -> str:
    """The rep's Outreach rate budget as a worker last saw it reported (remaining, limit, reset; expires)."""
    return f"{PREFIX}budget:{team_id}:{rep_email}"


def retry(event_id: str) -> str:
    """An event waiting for its next attempt: {attempt, reason, next_at} (expires after the longest backoff)."""
    return f"{PREFIX}retry:{event_id}"


def worker(worker_id: str) -> str:
    """A worker's last heartbeat: jobs in flight, pid, host (expires when it stops beating)."""
    return f"{PREFIX}worker:{worker_id}"


def story(event_id: str) -> str:
    """One event's story: what happened to it, step by step (ids and reasons; kept as long as the dedupe key)."""
    return f"{PREFIX}story:{event_id}"


def story_header(event_id: str) -> str:
    """Whom an event's story is about: {team_id, call_id, rep_email} (ids only)."""
    return f"{PREFIX}story-ids:{event_id}"


def call_index(call_id: str) -> str:
    """Search index: a Nooks call id → the event ids that carried it."""
    return f"{PREFIX}ix:call:{call_id}"


def rep_index(rep_email: str) -> str:
    """Search index: a rep email → their latest event ids, by time received."""
    return f"{PREFIX}ix:rep:{rep_email}"


def minute_series(minute: int) -> str:
    """Counts of one minute (epoch minute): calls logged, retried, dead-lettered, ingest outcomes, latency buckets."""
    return f"{PREFIX}ts:m:{minute}"


def hour_series(hour: int) -> str:
    return f"{PREFIX}ts:h:{hour}"


def histogram(name: str) -> str:
    """A Prometheus histogram shared by every process: "labels|le" → count, "labels|sum", "labels|count"."""
    return f"{PREFIX}hist:{name}"
