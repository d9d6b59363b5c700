"""Typed reads and writes on Outreach resources, for one rep. Results live only as long as the caller's job."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from outreach.client import Params, RepSession
from outreach.documents import parse
from outreach.errors import ListTruncated, NotFound
from schemas.outreach import Collection, Created, Resource, Single
from schemas.times import outreach_time

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # the largest `page[size]` Outreach serves (API-NOTES.md, "Reading")
MAX_PAGES = 50  # a safety stop against an endless `links.next`: no lookup here should need more
MAX_USER_PAGES = 200  # 200,000 users at the largest page size: beyond the biggest org's directory
USER_FIELDS = "email,name,firstName,lastName"


async def get_one(rep: RepSession, plural: str, record_id: int, params: Params | None = None) -> Resource | None:
    """A record, or None when Outreach says 404."""
    try:
        document = await rep.get(f"/{plural}/{record_id}", params=params)
    except NotFound:
        return None
    return parse(Single, document).data


async def iterate(rep: RepSession, plural: str, params: Params, *, max_pages: int = MAX_PAGES,
                  partial: bool = False, page_size: int = PAGE_SIZE) -> AsyncIterator[Resource]:
    """Every record of a filtered collection, following `links.next` (cursor pagination).

    More than `max_pages` pages raises ListTruncated: a caller that took the first part for the whole would act
    on records it never saw. Only a `partial` read ends quietly there instead: one that continues from its own
    cursor next time (reconciliation), or a best-effort scan (orphan webhooks)."""
    document = await rep.get(f"/{plural}", params={"page[size]": page_size, "count": "false", **params})
    for fetched in range(1, max_pages + 1):
        page = parse(Collection, document)
        for resource in page.data:
            yield resource
        if not page.links.next or not page.data:
            return
        if fetched == max_pages:
            break
        document = await rep.get_url(page.links.next)
    if not partial:
        raise ListTruncated(f"Outreach listed more than {max_pages} pages of {plural}")


async def list_users(rep: RepSession, updated_since: str | None = None) -> AsyncIterator[Resource]:
    """The org's users (the fields kept, at the largest page size); only those updated at or after
    `updated_since` when given (`updatedAt` is filterable on users)."""
    params: Params = {"fields[user]": USER_FIELDS}
    if updated_since is not None:
        params["filter[updatedAt]"] = f"{updated_since}..inf"
    async for user in iterate(rep, "users", params, max_pages=MAX_USER_PAGES, page_size=MAX_PAGE_SIZE):
        yield user


async def users_by_id(rep: RepSession, user_ids: list[int]) -> list[Resource]:
    """These users (the fields kept), in one request: `filter[id]` takes a list and `page[size]` covers it."""
    params: Params = {"fields[user]": USER_FIELDS, "filter[id]": ",".join(str(i) for i in user_ids),
                      "page[size]": len(user_ids), "count": "false"}
    return parse(Collection, await rep.get("/users", params=params)).data


async def prospect_id_by_number(rep: RepSession, number: str) -> int | None:
    async for phone in iterate(rep, "phoneNumbers", {"filter[number]": number}):
        prospect_id = phone.related_id("prospect")
        if prospect_id is not None:
            return prospect_id
    return None


async def disposition_id_by_name(rep: RepSession, name: str) -> int | None:
    wanted = name.strip().casefold()
    async for disposition in iterate(rep, "callDispositions", {}):
        if str(disposition.attributes.get("name", "")).strip().casefold() == wanted:
            return disposition.id
    return None


Done = Callable[[], Awaitable[int | None]]  # a write's done-check: the id Outreach holds it under, else None


async def reschedule_task(rep: RepSession, task_id: int, due_at: str, *, done: Done) -> int:
    return await rep.write_once("POST", f"/tasks/{task_id}/actions/reschedule", body=None,
                                params={"actionParams[dueAt]": due_at}, read=lambda _: task_id, done=done)


async def pause_sequence_state(rep: RepSession, state_id: int, *, done: Done) -> int:
    return await rep.write_once("POST", f"/sequenceStates/{state_id}/actions/pause", body=None,
                                read=lambda _: state_id, done=done)


async def create_call_task(rep: RepSession, owner_id: int, prospect_id: int, due_at: str, note: str, *,
                           done: Done) -> int:
    """A call task for `owner_id` about the prospect: a task's `prospect` is read-only, its `subject` is not."""
    body = {"data": {"type": "task", "attributes": {"action": "call", "dueAt": due_at, "note": note},
                     "relationships": {"owner": {"data": {"type": "user", "id": owner_id}},
                                       "subject": {"data": {"type": "prospect", "id": prospect_id}}}}}
    return await rep.write_once("POST", "/tasks", body=body, read=lambda document: parse(Created, document).data.id,
                                done=done)


async def task_with_note(rep: RepSession, prospect_id: int, owner_id: int, due_at: datetime, marker: str
                         ) -> int | None:
    """The owner's task on the prospect due at `due_at` (within a second either way: whether Outreach's ranges
    include their ends is not documented) whose note holds `marker`. `note` is not filterable: the few tasks due
    at that moment are scanned."""
    window = f"{outreach_time(due_at - timedelta(seconds=1))}..{outreach_time(due_at + timedelta(seconds=1))}"
    params: Params = {"filter[prospect][id]": prospect_id, "filter[owner][id]": owner_id, "filter[dueAt]": window,
                      "fields[task]": "note"}
    async for task in iterate(rep, "tasks", params):
        if marker in str(task.attributes.get("note") or ""):
            return task.id
    return None


async def opt_out_of_calls(rep: RepSession, prospect_id: int) -> int:
    """The granular call opt-out (never `callOptedOut`: without granular opt-out it opts out of email too).
    Writing the same value twice does no harm: it may be sent again."""
    await rep.request("PATCH", f"/prospects/{prospect_id}", idempotent=True, body={"data": {
        "type": "prospect", "id": prospect_id, "attributes": {"callsOptStatus": "opted_out"}}})
    return prospect_id


async def calls_opt_status(rep: RepSession, prospect_id: int) -> str | None:
    prospect = await get_one(rep, "prospects", prospect_id, params={"fields[prospect]": "callsOptStatus"})
    status = prospect.attributes.get("callsOptStatus") if prospect is not None else None
    return status if isinstance(status, str) else None


async def sending_mailbox_id(rep: RepSession, user_id: int) -> int | None:
    """The user's first mailbox that may send: the lowest id with `sendDisabled` false."""
    params: Params = {"filter[userId]": user_id, "fields[mailbox]": "sendDisabled", "sort": "id"}
    async for mailbox in iterate(rep, "mailboxes", params):
        if mailbox.attributes.get("sendDisabled") is False:
            return mailbox.id
    return None


async def enrol(rep: RepSession, prospect_id: int, sequence_id: int, mailbox_id: int, *, done: Done) -> int:
    body = {"data": {"type": "sequenceState", "relationships": {
        "prospect": {"data": {"type": "prospect", "id": prospect_id}},
        "sequence": {"data": {"type": "sequence", "id": sequence_id}},
        "mailbox": {"data": {"type": "mailbox", "id": mailbox_id}},
    }}}
    return await rep.write_once("POST", "/sequenceStates", body=body,
                                read=lambda document: parse(Created, document).data.id, done=done)


async def enrolment_of(rep: RepSession, prospect_id: int, sequence_id: int) -> int | None:
    """The prospect's sequence state in that sequence that is not finished, if any."""
    params: Params = {"filter[prospect][id]": prospect_id, "filter[sequence][id]": sequence_id,
                      "fields[sequenceState]": "state"}
    async for state in iterate(rep, "sequenceStates", params):
        if state.attributes.get("state") != "finished":
            return state.id
    return None


async def sequence_state_status(rep: RepSession, state_id: int) -> str | None:
    state = await get_one(rep, "sequenceStates", state_id, params={"fields[sequenceState]": "state"})
    value = state.attributes.get("state") if state is not None else None
    return value if isinstance(value, str) else None


async def dispositions(rep: RepSession) -> list[Resource]:
    """Every call disposition, in Outreach's display order (`order`)."""
    params: Params = {"sort": "order", "fields[callDisposition]": "name,outcome,order"}
    return [disposition async for disposition in iterate(rep, "callDispositions", params)]


SEQUENCE_FIELDS: Params = {"fields[sequence]": "name,enabled"}


async def sequences_page(rep: RepSession, limit: int, url: str | None) -> tuple[list[Resource], str | None]:
    """One page of the sequences the rep can read, by name (Outreach's `sort=name`), disabled ones too; and the
    URL of the next page."""
    if url is None:
        document = await rep.get("/sequences", params={
            "sort": "name", "page[size]": limit, "count": "false", **SEQUENCE_FIELDS})
    else:
        document = await rep.get_url(url)
    page = parse(Collection, document)
    return page.data, page.links.next


async def call_id_by_vendor_id(rep: RepSession, prospect_id: int, vendor_call_id: str) -> int | None:
    """`vendorCallId` is not filterable: scan the prospect's calls for it."""
    params: Params = {"filter[prospect][id]": prospect_id, "fields[call]": "vendorCallId"}
    async for call in iterate(rep, "calls", params):
        if call.attributes.get("vendorCallId") == vendor_call_id:
            return call.id
    return None


async def create_call(rep: RepSession, attributes: dict[str, Any], relationships: dict[str, dict[str, Any]],
                      *, done: Callable[[], Awaitable[int | None]]) -> int:
    """`POST /calls`; `done`: finds the call an answer lost on the way back may have created (its id, else None)."""
    body = {"data": {"type": "call", "attributes": attributes, "relationships": relationships}}
    return await rep.write_once("POST", "/calls", body=body, read=lambda document: parse(Created, document).data.id,
                                done=done)


async def mark_task_complete(rep: RepSession, task_id: int, *, done: Callable[[], Awaitable[bool | None]],
                             completion_action: str | None = None) -> bool:
    """`markComplete` (True); `done`: True when the task is complete already (completing it again is refused).
    `completion_action`: `finish_no_reply` or `finish_replied` finish the task's sequence state; none advances it."""
    params: Params | None = {"actionParams[completionAction]": completion_action} if completion_action else None
    return await rep.write_once("POST", f"/tasks/{task_id}/actions/markComplete", body=None, params=params,
                                read=lambda _: True, done=done)
