"""Typed reads and writes on Outreach resources, for one rep. Results live only as long as the caller's job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from outreach.client import Params, RepSession
from outreach.documents import parse
from outreach.errors import ListTruncated, NotFound
from schemas.outreach import Collection, Created, Resource, Single

PAGE_SIZE = 100
MAX_PAGES = 50  # a safety stop against an endless `links.next`: no lookup here should need more
MAX_USER_PAGES = 1000  # 100,000 users: the biggest org's directory


async def get_one(rep: RepSession, plural: str, record_id: int, params: Params | None = None) -> Resource | None:
    """A record, or None when Outreach says 404."""
    try:
        document = await rep.get(f"/{plural}/{record_id}", params=params)
    except NotFound:
        return None
    return parse(Single, document).data


async def iterate(rep: RepSession, plural: str, params: Params, *, max_pages: int = MAX_PAGES,
                  partial: bool = False) -> AsyncIterator[Resource]:
    """Every record of a filtered collection, following `links.next` (cursor pagination).

    More than `max_pages` pages raises ListTruncated: a caller that took the first part for the whole would act
    on records it never saw. Only a `partial` read ends quietly there instead: one that continues from its own
    cursor next time (reconciliation), or a best-effort scan (orphan webhooks)."""
    document = await rep.get(f"/{plural}", params={"page[size]": PAGE_SIZE, "count": "false", **params})
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


async def list_users(rep: RepSession) -> AsyncIterator[Resource]:
    async for user in iterate(rep, "users", {}, max_pages=MAX_USER_PAGES):
        yield user


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


async def call_id_by_vendor_id(rep: RepSession, prospect_id: int, vendor_call_id: str) -> int | None:
    """`vendorCallId` is not filterable: scan the prospect's calls for it."""
    params: Params = {"filter[prospect][id]": prospect_id, "fields[call]": "vendorCallId"}
    async for call in iterate(rep, "calls", params):
        if call.attributes.get("vendorCallId") == vendor_call_id:
            return call.id
    return None


async def create_call(rep: RepSession, attributes: dict[str, Any],
                      relationships: dict[str, dict[str, Any]]) -> int:
    document = await rep.post("/calls", body={
        "data": {"type": "call", "attributes": attributes, "relationships": relationships},
    })
    return parse(Created, document).data.id


async def mark_task_complete(rep: RepSession, task_id: int) -> None:
    await rep.post(f"/tasks/{task_id}/actions/markComplete")
