"""Hostile input against every endpoint of the published OpenAPI document: no request, however malformed, gets a
5xx (CONTRACT, "Faults the service rides out"). Sent as raw bytes over a socket, so headers and bodies can be
what no well-behaved client library would send: bad UTF-8, deep JSON, huge numbers, long and non-ASCII headers,
path tricks in `rep_email`; and another team's rep reads nothing of this team's."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from ingress.openapi import document
from ingress.paths import EMAIL
from tests.support.service import Service

BODIES = {
    "bad_utf8": b'{"id": "\xff\xfe\xfa", "type": "call.completed"}',
    "deep_json": b"[" * 60_000 + b"]" * 60_000,
    "deep_objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "huge_numbers": b'{"id": "e", "type": "call.completed", "outreach_user_id": 1e999999, '
                    b'"data": {"prospect_id": 123456789012345678901234567890, "duration_seconds": 1e308}}',
    "nan": b'{"outreach_user_id": NaN, "data": {"duration_seconds": Infinity}}',
    "nul_bytes": b'{"outreach_user_id": "\\u0000", "id": "\x00"}',
}
HEADERS = {
    "long": [(b"X-Long", b"a" * 8000), (b"webhook-id", b"i" * 4000), (b"Authorization", b"Bearer " + b"t" * 7000)],
    "latin1": [(b"webhook-id", "é²".encode("latin-1") * 20), (b"webhook-signature", "v1,é".encode("latin-1")),
               (b"webhook-timestamp", "²³".encode("latin-1")), (b"Outreach-Webhook-Id", b"\xe9\xff"),
               (b"Outreach-Webhook-Signature", b"\xff" * 64), (b"Authorization", b"Basic \xe9\xe9\xe9\xe9"),
               (b"Content-Length-Ignored", b"\xb2")],
    "odd_auth": [(b"Authorization", b"Bearer"), (b"Authorization", b"Basic ====")],
}
REP_TRICKS = ["..%2F..%2Fops", "ana@acme.com%00", "ana%40acme.com%2F..%2Fben%40acme.com", "%2e%2e",
              "a" * 300 + "@acme.com", "%C3%A1na@acme.com", "%FF%FE@acme.com", "ANA@ACME.COM", "ana@acme.com%20"]


def _operations() -> list[tuple[str, str]]:
    found = []
    for path, item in document()["paths"].items():
        for method in item:
            concrete = path.replace("{team_id}", "team_acme").replace("{rep_email}", "ana@acme.com")
            found.append((method.upper(), concrete.replace("{event_id}", "evt_x")))
    return found


async def raw_request(base_url: str, method: str, target: str, headers: list[tuple[bytes, bytes]],
                      body: bytes = b"") -> int:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        head = [f"{method} {target} HTTP/1.1".encode(), b"Host: " + host.encode(), b"Connection: close",
                b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode()]
        head += [name + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=15)
    finally:
        writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize("kind", sorted(BODIES))
async def test_hostile_bodies_never_get_a_5xx(svc: Service, kind: str) -> None:
    await svc.connect()
    for method, path in _operations():
        for auth in ([], [(b"Authorization", f"Bearer {svc.api_token}".encode())]):
            status = await raw_request(svc.base_url, method, path, auth, BODIES[kind])
            assert status < 500, (kind, method, path, status)


@pytest.mark.parametrize("kind", sorted(HEADERS))
async def test_hostile_headers_never_get_a_5xx(svc: Service, kind: str) -> None:
    await svc.connect()
    for method, path in _operations():
        status = await raw_request(svc.base_url, method, path, HEADERS[kind], b"{}")
        assert status < 500, (kind, method, path, status)


@pytest.mark.parametrize("trick", REP_TRICKS)
async def test_path_tricks_in_rep_email_never_reach_another_rep_or_a_5xx(svc: Service, trick: str) -> None:
    await svc.connect()
    bearer = [(b"Authorization", f"Bearer {svc.api_token}".encode())]
    for suffix, method in (("connection", "GET"), ("call-tasks", "GET"), ("connect-link", "POST")):
        status = await raw_request(svc.base_url, method, f"/v1/teams/team_acme/reps/{trick}/{suffix}", bearer)
        assert status < 500, (trick, suffix, status)
    status = await raw_request(svc.base_url, "PUT", f"/v1/teams/team_acme/user-mappings/{trick}", bearer,
                               b'{"outreach_user_id": 2}')
    assert status < 500
    # A trick reaches Ana only when it is Ana's own address once normalised (case, surrounding spaces); none is
    # stored under a name that is not an email address.
    _, mappings = await svc.api("GET", "/v1/teams/team_acme/user-mappings")
    stored = {m["rep_email"]: m["outreach_user_id"] for m in mappings["mappings"]}
    assert stored["ana@acme.com"] == (2 if trick in ("ANA@ACME.COM", "ana@acme.com%20") else 1)
    assert all(EMAIL.match(rep) and ".." not in rep and "\x00" not in rep for rep in stored), stored


async def test_another_teams_rep_reads_nothing_of_this_team(svc: Service) -> None:
    await svc.connect()  # Ana, in team_acme
    other = "/v1/teams/team_other/reps/ana@acme.com"
    assert (await svc.connection("team_other", "ana@acme.com"))["status"] == "not_connected"
    status, body = await svc.api("GET", f"{other}/call-tasks")
    assert (status, body["error"]["code"]) == (409, "not_connected")
    status, body = await svc.api("GET", "/v1/teams/team_other/user-mappings")
    assert status == 200 and body == {"mappings": [], "outreach_users": []}
    status, _ = await svc.api("PUT", f"/v1/teams/team_other/user-mappings/{quote('ana@acme.com')}",
                              json={"outreach_user_id": 2})
    assert status == 200
    assert (await svc.connection("team_acme", "ana@acme.com"))["outreach_user_id"] == 1  # this team unchanged
    status, _ = await svc.api("DELETE", f"{other}/connection")
    assert status == 200
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "connected"


@pytest.mark.parametrize("query", ["offset=²", "offset=١٢", "offset=9" * 40, "offset=" + "9" * 5000, "before=²-1",
                                   "before=1-²", "q=%FF%FE", "reason=" + "x" * 5000])
async def test_odd_query_values_on_the_operator_api_never_get_a_5xx(svc: Service, query: str) -> None:
    for path in ("/ops/api/dead-letters", "/ops/api/parked", "/ops/api/flagged", "/ops/api/connections",
                 "/ops/api/retries", "/ops/api/audit", "/ops/api/search"):
        status, body = await svc.ops_api("GET", f"{path}?{query}")
        assert status < 500, (path, query, body)
