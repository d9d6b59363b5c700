"""Every arq job the service runs: its function name and how its job id is made, named once.

workers/settings.py registers one function under each name (tests/workers/test_settings.py checks that the two
lists match); ingress and the store queue jobs by these names only.
"""

from __future__ import annotations

# Functions queued by the service.
LOG_CALL = "log_call"
OUTREACH_CHANGE = "outreach_change"
SYNC_SUBSCRIPTIONS = "sync_subscriptions"
QUEUED = (LOG_CALL, OUTREACH_CHANGE, SYNC_SUBSCRIPTIONS)

# Functions arq runs on a schedule (cron jobs name themselves).
RELEASE_READY = "release_ready"
RECONCILE_CHANGES = "reconcile_changes"
REPAIR_SUBSCRIPTIONS = "repair_subscriptions"
EXPIRE_RETAINED = "expire_retained"
RENEW_TOKENS = "renew_tokens"
SYNC_USERS = "sync_users"
CRON = (RELEASE_READY, RECONCILE_CHANGES, REPAIR_SUBSCRIPTIONS, EXPIRE_RETAINED, RENEW_TOKENS, SYNC_USERS)

# Job id prefixes of the Outreach-side jobs (a log_call job's id is its event's id).
WEBHOOK_CHANGE_PREFIX = "ohk:"
RECONCILED_CHANGE_PREFIX = "orc:"
SYNC_SUBSCRIPTIONS_PREFIX = "subs:"


def log_call_id(event_id: str) -> str:
    """The first job of a Nooks event: its id is the event's `webhook-id`."""
    return event_id


def requeued_call_id(event_id: str, now_ms: int) -> str:
    """A stored event queued again (parked, dead-lettered): a fresh id keeps arq's bookkeeping of the earlier
    run from touching the new one."""
    return f"{event_id}@{now_ms}"


def webhook_change_id(team_id: str, event_id: str) -> str:
    return f"{WEBHOOK_CHANGE_PREFIX}{team_id}:{event_id}"


def reconciled_change_id(change_key: str) -> str:
    return f"{RECONCILED_CHANGE_PREFIX}{change_key}"


def sync_subscriptions_id(team_id: str, rep_email: str, now_ms: int) -> str:
    return f"{SYNC_SUBSCRIPTIONS_PREFIX}{team_id}:{rep_email}:{now_ms}"
