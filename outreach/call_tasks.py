"""Just-in-time read of a rep's due call tasks: one `GET /tasks` with everything the dialer shows included.

Nothing read here outlives the request: tasks are mapped into `schemas.call_tasks` objects and handed back.
Paging rides on Outreach's own cursor (`links.next`); a `Position` says where the next page starts: an
Outreach page (its URL, or None for the first page of the query) and, when a page was only partly used, the
last task already returned from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from outreach.client import Params, RepSession
from outreach.documents import parse
from schemas.call_tasks import CallTask, Named, Phone, Prospect
from schemas.outreach import Collection, Resource
from schemas.times import format_time, outreach_time, parse_time

MAX_OUTREACH_PAGES = 10  # per request: a page of ours may come back short (even empty) with a cursor to go on
MAX_PAGE_SIZE = 1000  # Outreach's own ceiling for page[size]

# Names as Outreach's OpenAPI has them: a task relates a `taskPurpose` (it has no `callPurpose`); the call purpose
# is its sequence step's. A sequence step is named by `displayName` (it has no `name`).
INCLUDE = "prospect,prospect.phoneNumbers,account,sequence,sequenceStep,sequenceStep.callPurpose,taskPurpose"
# Sparse fieldsets: only what the dialer shows (attributes and the relationships followed).
FIELDS = {
    "task": "action,taskType,dueAt,note,prospect,account,sequence,sequenceStep,taskPurpose",
    "prospect": "name,firstName,lastName,title,timeZone,timeZoneIana,callOptedOut,callsOptStatus,"
                "mobilePhones,workPhones,homePhones,otherPhones,voipPhones,phoneNumbers",
    "phoneNumber": "number,rawNumber,phoneType,order,prospect",
    "account": "name",
    "sequence": "name",
    "sequenceStep": "displayName,callPurpose",
    "callPurpose": "name",
    "taskPurpose": "name",
}

FILTERS = ("filter[owner][id]", "filter[state]", "filter[dueAt]")  # what bounds a rep's listing to the rep
SEQUENCE_FILTER = "filter[sequence][id]"
# Dialing order: phone types in this order, then Outreach's own `order` within a type; unknown types last.
DIALING_ORDER = ("mobile", "work", "home", "other", "voip")
PHONE_ARRAYS = (("mobilePhones", "mobile"), ("workPhones", "work"), ("homePhones", "home"),
                ("otherPhones", "other"), ("voipPhones", "voip"))
OPTED_OUT = {"opted_out", "optedout", "opted out"}


@dataclass(frozen=True)
class Position:
    """Where a page starts. `url` None: the first Outreach page of the query. `after_id`/`after_due`: the last
    task already returned from that Outreach page (None: start at its top)."""

    url: str | None = None
    after_id: int | None = None
    after_due: str | None = None


@dataclass(frozen=True)
class CallTaskBatch:
    tasks: list[CallTask]
    next: Position | None
    opted_out_skipped: int


def first_page_params(owner_id: int, due_before: datetime, page_size: int, sequence_id: int | None = None
                      ) -> Params:
    """`sequence_id`: only that sequence's tasks (`filter[sequence][id]`; a task's sequence is filterable by id)."""
    by_sequence: Params = {SEQUENCE_FILTER: sequence_id} if sequence_id is not None else {}
    return {
        "filter[owner][id]": owner_id,
        **by_sequence,
        "filter[state]": "incomplete",
        "filter[dueAt]": f"neginf..{outreach_time(due_before)}",
        "include": INCLUDE,
        **{f"fields[{kind}]": names for kind, names in FIELDS.items()},
        "sort": "dueAt",
        "page[size]": max(1, min(page_size, MAX_PAGE_SIZE)),
        "count": "false",
    }


def keeps_filters(url: str, owner_id: int, due_before: datetime, sequence_id: int | None = None) -> bool:
    """True when an Outreach page URL still asks for what the first page asked: the rep's own incomplete tasks
    due by `due_before`, of `sequence_id` when given (each filter present exactly once, with the same value)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    wanted = first_page_params(owner_id, due_before, 1, sequence_id)
    same_sequence = query.get(SEQUENCE_FILTER) == ([str(sequence_id)] if sequence_id is not None else None)
    return same_sequence and all(query.get(name) == [str(wanted[name])] for name in FILTERS)


async def due_call_tasks(rep: RepSession, owner_id: int, due_before: datetime, limit: int,
                         start: Position | None = None, sequence_id: int | None = None) -> CallTaskBatch:
    """Up to `limit` call tasks of `owner_id` due at or before `due_before`, oldest due first."""
    start = start or Position()
    url = start.url
    document = await (rep.get_url(url) if url else rep.get("/tasks", params=first_page_params(
        owner_id, due_before, limit, sequence_id)))
    tasks: list[CallTask] = []
    skipped = 0
    resume = start
    for fetched in range(1, MAX_OUTREACH_PAGES + 1):
        page = parse(Collection, document)
        included = index_included(page.included)
        begin = resume_index(page.data, resume) if resume.after_id is not None else 0
        for i in range(begin, len(page.data)):
            task = page.data[i]
            if not is_call_task(task):
                continue
            prospect = included.get(("prospect", task.related_id("prospect") or 0))
            if prospect is not None and opted_out(prospect):
                skipped += 1
                continue
            tasks.append(map_task(task, included))
            if len(tasks) >= limit:
                if i + 1 < len(page.data):
                    return CallTaskBatch(tasks, Position(url, task.id, _text(task.attributes.get("dueAt"))), skipped)
                return CallTaskBatch(tasks, Position(page.links.next) if page.links.next else None, skipped)
        if not page.links.next or not page.data:
            return CallTaskBatch(tasks, None, skipped)
        url, resume = page.links.next, Position(page.links.next)
        if fetched == MAX_OUTREACH_PAGES:
            break
        document = await rep.get_url(url)
    return CallTaskBatch(tasks, Position(url), skipped)


# --- pure helpers --------------------------------------------------------------------------------------------

Included = dict[tuple[str, int], Resource]


def index_included(resources: list[Resource]) -> Included:
    return {(r.type, r.id): r for r in resources}


def resume_index(data: list[Resource], after: Position) -> int:
    """Index of the first task not yet returned: right after the last one returned, when it is still on the
    page; otherwise after every task that sorts at or before it (dueAt, then id), so a task completed in
    between neither hides the next one nor repeats the last."""
    for i, task in enumerate(data):
        if task.id == after.after_id:
            return i + 1
    last_due = parse_time(after.after_due)
    if last_due is None or after.after_id is None:
        return 0
    for i, task in enumerate(data):
        due = parse_time(task.attributes.get("dueAt"))
        if due is None or (due, task.id) > (last_due, after.after_id):
            return i
    return len(data)


def is_call_task(task: Resource) -> bool:
    action = task.attributes.get("action")
    task_type = task.attributes.get("taskType")
    return action == "call" or (action is None and task_type == "sequence_step_call")


def opted_out(prospect: Resource) -> bool:
    attrs = prospect.attributes
    status = attrs.get("callsOptStatus")
    return attrs.get("callOptedOut") is True or (isinstance(status, str) and status.strip().lower() in OPTED_OUT)


def map_task(task: Resource, included: Included) -> CallTask:
    attrs = task.attributes
    prospect = included.get(("prospect", task.related_id("prospect") or 0))
    step = included.get(("sequenceStep", task.related_id("sequenceStep") or 0))
    account_id = task.related_id("account") or (prospect.related_id("account") if prospect else None)
    return CallTask(
        task_id=task.id,
        due_at=format_time(attrs.get("dueAt")),
        note=_text(attrs.get("note")),
        prospect=map_prospect(prospect, included) if prospect else _unreadable_prospect(task),
        account=named(included, "account", account_id, "name"),
        sequence=named(included, "sequence", task.related_id("sequence"), "name"),
        step=named(included, "sequenceStep", task.related_id("sequenceStep"), "displayName"),
        call_purpose=purpose(task, step, included),
    )


def purpose(task: Resource, step: Resource | None, included: Included) -> Named | None:
    """The task's own purpose (its `taskPurpose`), else its sequence step's default `callPurpose`."""
    if (own := task.related_id("taskPurpose")) is not None:
        return named(included, "taskPurpose", own, "name")
    return named(included, "callPurpose", step.related_id("callPurpose") if step else None, "name")


def map_prospect(prospect: Resource, included: Included) -> Prospect:
    attrs = prospect.attributes
    name = _text(attrs.get("name"))
    if not name:
        name = " ".join(p for p in (_text(attrs.get("firstName")), _text(attrs.get("lastName"))) if p) or None
    return Prospect(
        id=prospect.id,
        name=name,
        title=_text(attrs.get("title")),
        time_zone=_text(attrs.get("timeZoneIana")) or _text(attrs.get("timeZone")),
        phones=prospect_phones(prospect, included),
    )


def prospect_phones(prospect: Resource, included: Included) -> list[Phone]:
    """The prospect's phoneNumber records when Outreach included them, else its phone arrays; in dialing order
    (see DIALING_ORDER), without repeats."""
    records = [r for i in prospect.related_ids("phoneNumbers") if (r := included.get(("phoneNumber", i)))]
    if not records:
        records = [r for (kind, _), r in included.items()
                   if kind == "phoneNumber" and r.related_id("prospect") == prospect.id]
    ranked: list[tuple[int, int, int, Phone]] = []
    if records:
        for position, record in enumerate(records):
            number = _text(record.attributes.get("number")) or _text(record.attributes.get("rawNumber"))
            if not number:
                continue
            kind = (_text(record.attributes.get("phoneType")) or "other").lower()
            order = record.attributes.get("order")
            ranked.append((_type_rank(kind), order if isinstance(order, int) else position, position,
                           Phone(number=number, type=kind)))
    else:
        position = 0
        for attribute, kind in PHONE_ARRAYS:
            values = prospect.attributes.get(attribute)
            for value in values if isinstance(values, list) else []:
                if number := _text(value):
                    ranked.append((_type_rank(kind), position, position, Phone(number=number, type=kind)))
                    position += 1
    phones: list[Phone] = []
    seen: set[str] = set()
    for *_, phone in sorted(ranked, key=lambda r: r[:3]):
        if phone.number not in seen:
            seen.add(phone.number)
            phones.append(phone)
    return phones


def named(included: Included, kind: str, record_id: int | None, *name_attrs: str) -> Named | None:
    if record_id is None:
        return None
    record = included.get((kind, record_id))
    name = None
    if record is not None:
        name = next((text for attr in name_attrs if (text := _text(record.attributes.get(attr)))), None)
    return Named(id=record_id, name=name)


def _type_rank(kind: str) -> int:
    return DIALING_ORDER.index(kind) if kind in DIALING_ORDER else len(DIALING_ORDER)


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None


def _unreadable_prospect(task: Resource) -> Prospect | None:
    """The task names a prospect Outreach did not include (deleted, or not readable by the rep): its id only."""
    prospect_id = task.related_id("prospect")
    return Prospect(id=prospect_id) if prospect_id is not None else None
