"""What operators do: retry or discard dead letters (one, all, or all matching a filter), release a rep's
parked events, pause and resume a rep. Each action is audited (who, what, how many) and told in the stories of
the events it touched."""

from __future__ import annotations

import logging

from runtime.services import Services
from schemas.ops import DeadLetterFilter
from store.dead_letters import NOT_FOUND, QUEUED

log = logging.getLogger("ops.audit")

RETRY, DISCARD = "retry", "discard"
DONE = "done"


async def on_dead_letter(services: Services, who: str, action: str, event_id: str) -> str:
    """Retry or discard one dead letter: DONE, or why not (not_found, event_gone). Audited either way."""
    outcome = await _act(services, who, action, event_id)
    await services.ops.audit.record(who, action, f"dead letter {event_id}", int(outcome == DONE), outcome)
    return outcome


async def on_dead_letters(services: Services, who: str, action: str, which: DeadLetterFilter) -> int:
    """Retry or discard every dead letter the filter takes; answers how many. Stopped halfway (Redis went away),
    the audit says how far it got before the error reaches the operator."""
    target = f"dead letters {which.described()}"
    done = skipped = 0
    try:
        # Ids first, then act: acting removes entries from the index being paged through.
        event_ids = [letter.event_id async for letter in services.stores.dead_letters.matching(which)]
        for event_id in event_ids:
            outcome = await _act(services, who, action, event_id)
            done += outcome == DONE
            skipped += outcome not in (DONE, NOT_FOUND)
    except Exception as failed:
        await _audit_anyway(services, who, f"{action} all", target, done,
                            f"stopped after {done}: {type(failed).__name__}")
        raise
    outcome = f"{DONE}, {skipped} skipped" if skipped else DONE
    await services.ops.audit.record(who, f"{action} all", target, done, outcome)
    return done


async def _audit_anyway(services: Services, who: str, action: str, target: str, count: int, outcome: str) -> None:
    try:
        await services.ops.audit.record(who, action, target, count, outcome)
    except Exception:  # Redis is what failed: the log line is then the only record
        log.warning("operator=%s action=%s target=%s count=%d outcome=%s (not in the audit log: Redis failed)",
                    who, action, target, count, outcome)


async def _act(services: Services, who: str, action: str, event_id: str) -> str:
    if action == RETRY:
        outcome = await services.stores.dead_letters.retry(event_id)
        outcome = DONE if outcome == QUEUED else outcome
    else:
        outcome = DONE if await services.stores.dead_letters.discard(event_id) else NOT_FOUND
    if outcome == DONE:
        services.ops.history.record(event_id, "retried" if action == RETRY else "discarded", by=who)
    return outcome


async def release(services: Services, who: str, team_id: str, rep_email: str) -> int:
    released = await services.stores.parking.release(team_id, rep_email)
    await services.ops.audit.record(who, "release", f"parked events of {team_id}/{rep_email}", released)
    return released


async def pause(services: Services, who: str, team_id: str, rep_email: str) -> bool:
    changed = await services.stores.pauses.pause(team_id, rep_email, who)
    await services.ops.audit.record(who, "pause", f"rep {team_id}/{rep_email}", int(changed))
    return changed


async def resume(services: Services, who: str, team_id: str, rep_email: str) -> int:
    """Resume the rep and queue their waiting events again (each is checked again, and may wait for
    something else, e.g. a reconnect). Answers how many were queued."""
    await services.stores.pauses.resume(team_id, rep_email)
    released = await services.stores.parking.release(team_id, rep_email)
    await services.ops.audit.record(who, "resume", f"rep {team_id}/{rep_email}", released)
    return released
