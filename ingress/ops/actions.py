"""What operators do: retry or discard dead letters (one, all, or all matching a filter), release a rep's
parked events, pause and resume a rep. Each action is audited (who, what, how many) and told in the stories of
the events it touched."""

from __future__ import annotations

from runtime.services import Services
from schemas.ops import DeadLetterFilter

RETRY, DISCARD = "retry", "discard"


async def on_dead_letter(services: Services, who: str, action: str, event_id: str) -> bool:
    """Retry or discard one dead letter; False when there is no such dead letter."""
    done = await _act(services, who, action, event_id)
    if done:
        await services.ops.audit.record(who, action, f"dead letter {event_id}", 1)
    return done


async def on_dead_letters(services: Services, who: str, action: str, which: DeadLetterFilter) -> int:
    """Retry or discard every dead letter the filter takes; answers how many."""
    # Ids first, then act: acting removes entries from the index being paged through.
    event_ids = [letter.event_id async for letter in services.stores.dead_letters.matching(which)]
    done = 0
    for event_id in event_ids:
        done += await _act(services, who, action, event_id)
    await services.ops.audit.record(who, f"{action} all", f"dead letters {which.described()}", done)
    return done


async def _act(services: Services, who: str, action: str, event_id: str) -> bool:
    if action == RETRY:
        done = await services.stores.dead_letters.retry(event_id)
    else:
        done = await services.stores.dead_letters.discard(event_id)
    if done:
        services.ops.history.record(event_id, "retried" if action == RETRY else "discarded", by=who)
    return done


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
