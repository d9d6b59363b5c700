"""The demo org (fixed ids, documented in README.md) and an optional larger generated org for benchmarks.

Seeding writes records without webhook events. Due dates are relative to the moment of seeding, so
"past due" tasks stay past due whenever the tests run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import timeutil
from .state import Store

DISPOSITIONS = [  # exactly fixtures/api-call-dispositions-list.json
    (1, "Answered - Meeting Set", "completed"),
    (3, "Answered - Not Interested", "completed"),
    (5, "Answered - Wrong Contact", "completed"),
    (6, "No Answer", "no_answer"),
    (7, "Left Voicemail", "no_answer"),
    (9, "Bad Number", "no_answer"),
]
USERS = [(1, "ana@acme.com", "Ana", "Ruiz"), (2, "ben@acme.com", "Ben", "Okafor"), (3, "cleo@acme.com", "Cleo", "Park")]
# id, user, sendDisabled: Ana sends from 1; Ben's first mailbox may not send (so his is 12); Cleo has none that may
MAILBOXES = [(1, 1, False), (2, 2, True), (3, 3, True), (12, 2, False)]
# id, name, enabled, owner, steps [(id, order, stepType, callPurpose, displayName)]
SEQUENCES: list[tuple[int, str, bool, int, list[tuple[int, int, str, int | None, str]]]] = [
    (41, "Q4 Outbound", True, 1, [(201, 1, "auto_email", None, "Intro email"), (202, 2, "call", 1, "Intro call"),
                                  (203, 3, "call", 2, "Follow-up call")]),
    (42, "Inbound Follow-up", True, 2, [(211, 1, "call", 2, "Follow-up call")]),
    (43, "Nurture: Post-call", True, 1, [(221, 1, "call", 2, "Check-in call"), (222, 2, "auto_email", None, "Recap")]),
    (44, "Archived Outbound", False, 1, [(231, 1, "call", 1, "Intro call")]),
]
ACCOUNTS = [
    (501, "Globex Corporation", "globex.example"),
    (502, "Initech", "initech.example"),
    (503, "Umbrella Health", "umbrella.example"),
]
# id, first, last, title, time zone, account, owner, [(phoneType, number)], callOptedOut
PROSPECTS: list[tuple[int, str, str, str, str, int, int, list[tuple[str, str]], bool]] = [
    (
        3456,
        "Dana",
        "Whitfield",
        "VP Sales",
        "America/New_York",
        501,
        1,
        [("mobile", "+14155551234"), ("work", "+14155550199")],
        False,
    ),
    (3457, "Eli", "Novak", "Head of RevOps", "America/Chicago", 502, 1, [("work", "+13125550142")], False),
    (3458, "Fay", "Chen", "CTO", "America/Los_Angeles", 503, 1, [("mobile", "+14085550177")], True),
    (3459, "Gus", "Ortega", "Sales Director", "America/Denver", 501, 2, [("mobile", "+17205550123")], False),
    (3460, "Hana", "Ito", "Procurement Lead", "Asia/Tokyo", 502, 2, [("work", "+81355550100")], False),
    (3461, "Ivan", "Petrov", "COO", "Europe/Berlin", 503, 3, [("mobile", "+493055501234")], False),
]
BULK_PROSPECTS, BULK_FIRST_PROSPECT, BULK_FIRST_TASK, BULK_FIRST_PHONE = 60, 5001, 2001, 9101


def _at(minutes: float) -> str:
    return timeutil.iso(timeutil.now().replace(second=0, microsecond=0) + timedelta(minutes=minutes))


class _Seeder:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.created = timeutil.iso(timeutil.now().replace(microsecond=0) - timedelta(days=30))

    def add(self, type_: str, id_: int, attrs: dict[str, Any], rels: dict[str, int | None] | None = None) -> None:
        attrs = {"createdAt": self.created, "updatedAt": self.created, **attrs}
        self.store.create(type_, attrs, rels, id_=id_, emit=False)

    def prospect(
        self,
        id_: int,
        first: str,
        last: str,
        title: str,
        tz: str,
        account: int,
        owner: int,
        phones: list[tuple[str, str]],
        opted_out: bool,
        phone_id: int,
    ) -> None:
        arrays: dict[str, list[str]] = {}
        for kind, number in phones:
            arrays.setdefault(f"{kind}Phones", []).append(number)
        email = f"{first}.{last}".lower() + f"@{self.store.records['account'][account].attributes['domain']}"
        self.add(
            "prospect",
            id_,
            {
                "firstName": first,
                "lastName": last,
                "title": title,
                "timeZone": tz,
                "emails": [email],
                **arrays,
                "callOptedOut": opted_out,
                "callsOptStatus": "opted_out" if opted_out else None,
            },
            {"account": account, "owner": owner},
        )
        for order, (kind, number) in enumerate(phones):
            self.add(
                "phoneNumber",
                phone_id + order,
                {"number": number, "rawNumber": number, "phoneType": kind, "order": order},
                {"prospect": id_},
            )

    def task(
        self,
        id_: int,
        action: str,
        task_type: str,
        due_min: float,
        owner: int,
        prospect: int,
        state: str = "incomplete",
        seq: tuple[int, int, int] | None = None,
        note: str | None = None,
        purpose: int | None = None,
    ) -> None:
        """`purpose`: the task's own taskPurpose (a sequence step's call purpose lives on the step)."""
        account = self.store.records["prospect"][prospect].rels["account"]
        sequence, seq_state, step = seq or (None, None, None)
        extra = {"completed": True, "completedAt": _at(-60), "stateChangedAt": _at(-60)} if state == "complete" else {}
        self.add(
            "task",
            id_,
            {"action": action, "taskType": task_type, "state": state, "dueAt": _at(due_min), "note": note, **extra},
            {
                "prospect": prospect,
                "account": account,
                "owner": owner,
                "sequence": sequence,
                "sequenceState": seq_state,
                "sequenceStep": step,
                "taskPurpose": purpose,
            },
        )


def seed_demo(store: Store) -> None:
    s = _Seeder(store)
    for id_, email, first, last in USERS:
        s.add(
            "user",
            id_,
            {
                "email": email,
                "firstName": first,
                "lastName": last,
                "name": f"{first} {last}",
                "username": email.split("@")[0],
            },
        )
    for id_, user, send_disabled in MAILBOXES:
        email = next(u[1] for u in USERS if u[0] == user)
        s.add("mailbox", id_, {"email": email, "userId": user, "sendDisabled": send_disabled}, {"user": user})
    for id_, name, domain in ACCOUNTS:
        s.add("account", id_, {"name": name, "domain": domain}, {"owner": 1})
    for id_, name, outcome in DISPOSITIONS:
        stamp = "2021-07-08T18:40:00.000Z"
        s.add(
            "callDisposition",
            id_,
            {"name": name, "outcome": outcome, "order": id_, "createdAt": stamp, "updatedAt": stamp},
        )
    s.add("callPurpose", 1, {"name": "Intro", "order": 1})
    s.add("callPurpose", 2, {"name": "Follow-up", "order": 2})
    s.add("taskPurpose", 1, {"name": "Initial Contact", "order": 1, "taskType": "call"})
    s.add("taskPurpose", 2, {"name": "Renewal Check-in", "order": 2, "taskType": "call"})
    for seq_id, name, enabled, owner, steps in SEQUENCES:
        s.add("sequence", seq_id, {"name": name, "enabled": enabled}, {"owner": owner})
        for step_id, order, kind, purpose, step_name in steps:
            s.add(
                "sequenceStep",
                step_id,
                {"order": order, "stepType": kind, "displayName": step_name},
                {"sequence": seq_id, "callPurpose": purpose},
            )
    for i, p in enumerate(PROSPECTS):
        s.prospect(*p, phone_id=9001 + 2 * i)
    for id_, prospect, seq, step, mailbox in [
        (7001, 3456, 41, 202, 1),
        (7002, 3457, 41, 202, 1),
        (7003, 3459, 42, 211, 2),
    ]:
        s.add(
            "sequenceState",
            id_,
            {"state": "active", "stateChangedAt": s.created},
            {
                "prospect": prospect,
                "sequence": seq,
                "sequenceStep": step,
                "mailbox": mailbox,
                "user": mailbox,
                "account": store.records["prospect"][prospect].rels["account"],
            },
        )
    s.task(1122, "call", "sequence_step_call", -120, 1, 3456, seq=(41, 7001, 202), note="Ask about Q1 budget")
    s.task(1123, "call", "sequence_step_call", -60, 1, 3457, seq=(41, 7002, 202))
    s.task(1124, "call", "call", -30, 1, 3458, note="Opted out of calls: should be skipped")
    s.task(1125, "call", "call", 24 * 60, 1, 3456, note="Tomorrow's follow-up", purpose=2)
    s.task(1126, "email", "sequence_step_email", -90, 1, 3457)
    s.task(1127, "call", "call", -24 * 60, 1, 3456, state="complete")
    s.task(1128, "call", "sequence_step_call", -45, 2, 3459, seq=(42, 7003, 211))
    s.task(1129, "call", "call", 3 * 60, 2, 3460)
    s.task(1130, "call", "call", -15, 3, 3461)
    s.task(1131, "action_item", "action_item", -20, 1, 3456, note="Send deck")
    s.task(1132, "email", "email", -10, 2, 3460)
    for i in range(BULK_PROSPECTS):
        pid = BULK_FIRST_PROSPECT + i
        s.prospect(
            pid,
            "Bulk",
            f"Prospect{i + 1:02d}",
            "Buyer",
            "America/New_York",
            502 + i % 2,
            1,
            [("mobile", f"+1415555{2001 + i:04d}")],
            False,
            phone_id=BULK_FIRST_PHONE + i,
        )
        s.task(BULK_FIRST_TASK + i, "call", "call", -180 - i, 1, pid)


def seed_bench(store: Store, reps: int, prospects_per_rep: int) -> None:
    """Rep i (1-based): user 1000+i `rep{i}@bench.example` with mailbox 1000+i; prospect j of rep i: id
    100000 + (i-1)*M + j, number `+1628{i:03d}{j:04d}`, phoneNumber id = prospect id + 100000, one due call task
    id = prospect id + 200000."""
    if not (0 < reps <= 999 and 0 < prospects_per_rep <= 9999 and reps * prospects_per_rep < 100_000):
        raise ValueError("reps must be 1..999, prospects_per_rep 1..9999, and their product < 100000")
    s = _Seeder(store)
    if 900 not in store.records["account"]:
        s.add("account", 900, {"name": "Bench Accounts Inc", "domain": "bench-accounts.example"})
    for i in range(1, reps + 1):
        uid = 1000 + i
        s.add(
            "user",
            uid,
            {
                "email": f"rep{i}@bench.example",
                "firstName": "Rep",
                "lastName": str(i),
                "name": f"Rep {i}",
                "username": f"rep{i}",
            },
        )
        s.add("mailbox", uid, {"email": f"rep{i}@bench.example", "userId": uid, "sendDisabled": False}, {"user": uid})
        for j in range(1, prospects_per_rep + 1):
            pid = 100_000 + (i - 1) * prospects_per_rep + j
            number = f"+1628{i:03d}{j:04d}"
            s.add(
                "prospect",
                pid,
                {
                    "firstName": "Bench",
                    "lastName": f"P{i}-{j}",
                    "mobilePhones": [number],
                    "emails": [f"p{i}-{j}@bench-accounts.example"],
                },
                {"account": 900, "owner": uid},
            )
            s.add(
                "phoneNumber",
                pid + 100_000,
                {"number": number, "rawNumber": number, "phoneType": "mobile"},
                {"prospect": pid},
            )
            s.add(
                "task",
                pid + 200_000,
                {"action": "call", "taskType": "call", "state": "incomplete", "dueAt": _at(-j)},
                {"prospect": pid, "account": 900, "owner": uid},
            )


MAX_EXTRA_USERS = 200_000
EXTRA_USER_BASE = 1_000_000


def seed_users(store: Store, count: int) -> None:
    """`count` more users (a large org's directory): user `1000000+i` `user{i}@org.example`, i from 1."""
    if not 0 < count <= MAX_EXTRA_USERS:
        raise ValueError(f"users must be 1..{MAX_EXTRA_USERS}")
    s = _Seeder(store)
    for i in range(1, count + 1):
        s.add("user", EXTRA_USER_BASE + i, {"email": f"user{i}@org.example", "firstName": "User", "lastName": str(i),
                                             "name": f"User {i}", "username": f"user{i}"})
