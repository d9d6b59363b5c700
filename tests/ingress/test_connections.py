"""Connecting a rep over OAuth, the connection status, disconnecting, and what is stored (encrypted)."""

from __future__ import annotations

from store import keys
from tests.support.outreach_hooks import connect_with_webhooks, worker_idle
from tests.support.service import Service, browser_cookie


async def test_connect_link_needs_the_bearer_token(svc: Service) -> None:
    async with svc.http.post(f"{svc.base_url}/v1/teams/team_acme/reps/ana@acme.com/connect-link") as r:
        assert r.status == 401
    async with svc.http.post(f"{svc.base_url}/v1/teams/team_acme/reps/ana@acme.com/connect-link",
                             headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
    status, body = await svc.api("POST", "/v1/teams/team%20x/reps/ana@acme.com/connect-link")
    assert status == 422
    status, body = await svc.api("POST", "/v1/teams/team_acme/reps/not-an-email/connect-link")
    assert status == 422


async def test_connect_maps_the_rep_and_syncs_users(svc: Service) -> None:
    assert await svc.connection("team_acme", "ana@acme.com") == {
        "status": "not_connected", "outreach_user_id": None, "scopes": [], "parked_events": 0}
    status, page = await svc.connect()
    assert status == 200 and "Outreach connected" in page
    connection = await svc.connection("team_acme", "ana@acme.com")
    assert connection["status"] == "connected" and connection["outreach_user_id"] == 1
    assert "webhooks.all" in connection["scopes"] and "calls.all" in connection["scopes"]
    status, mappings = await svc.api("GET", "/v1/teams/team_acme/user-mappings")
    assert status == 200
    assert mappings["mappings"] == [{"rep_email": "ana@acme.com", "outreach_user_id": 1,
                                     "email": "ana@acme.com", "name": "Ana Ruiz"}]
    assert {u["email"] for u in mappings["outreach_users"]} >= {"ana@acme.com", "ben@acme.com", "cleo@acme.com"}
    assert set(mappings["outreach_users"][0]) == {"id", "email", "name"}  # nothing else is kept


async def test_tokens_are_encrypted_at_rest(svc: Service) -> None:
    await svc.connect()
    stored = await svc.redis.hget(keys.connection("team_acme", "ana@acme.com"), "tokens")
    assert stored and stored.startswith(b"gAAAAA")  # a Fernet token
    minted = [r for r in await svc.sandbox.requests("/oauth/token")]
    assert minted
    for key in await svc.redis.keys("*"):
        if await svc.redis.type(key) == b"hash":
            values = b" ".join((await svc.redis.hgetall(key)).values())
            assert b"Bearer" not in values and b"access_token" not in values


async def test_connect_link_is_single_use(svc: Service) -> None:
    status, link = await svc.api("POST", "/v1/teams/team_acme/reps/ana@acme.com/connect-link")
    assert status == 200 and link["expires_at"].endswith("Z")
    async with svc.http.get(link["url"], allow_redirects=False) as first:
        assert first.status == 302
        assert first.headers["Location"].startswith(svc.settings.outreach_oauth_url + "/authorize?")
    async with svc.http.get(link["url"], allow_redirects=False) as second:
        assert second.status == 400


async def test_bad_or_reused_state_and_access_denied_change_nothing(svc: Service) -> None:
    async with svc.http.get(f"{svc.base_url}/v1/outreach/oauth/callback?code=abc&state=forged") as r:
        assert r.status == 400
    async with svc.http.get(f"{svc.base_url}/v1/outreach/oauth/callback") as r:
        assert r.status == 400
    status, page = await svc.connect(deny=True)
    assert status == 400 and "denied" in page
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"


async def _consent(svc: Service, rep_email: str = "ana@acme.com", login_email: str = "ana@acme.com"
                   ) -> tuple[str, dict[str, str]]:
    """Start a consent and let Outreach redirect back: (the callback URL, the browser's Cookie header)."""
    status, link = await svc.api("POST", f"/v1/teams/team_acme/reps/{rep_email}/connect-link")
    assert status == 200
    async with svc.http.get(link["url"], allow_redirects=False) as start:
        authorize = start.headers["Location"] + f"&login_email={login_email}"
        browser = browser_cookie(start)
    async with svc.http.get(authorize, allow_redirects=False) as consent:
        return consent.headers["Location"], browser


async def test_a_state_works_once(svc: Service) -> None:
    callback, browser = await _consent(svc)
    async with svc.http.get(callback, headers=browser) as first:
        assert first.status == 200
    async with svc.http.get(callback, headers=browser) as replay:
        assert replay.status == 400


async def test_start_binds_the_consent_to_the_browser_with_a_lax_httponly_cookie(svc: Service) -> None:
    status, link = await svc.api("POST", "/v1/teams/team_acme/reps/ana@acme.com/connect-link")
    async with svc.http.get(link["url"], allow_redirects=False) as start:
        cookie = start.headers["Set-Cookie"]
    assert cookie.startswith("nooks_oauth=")
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age"} <= attributes and "samesite=lax" in cookie.lower()
    assert "Path=/v1/outreach/oauth" in cookie


async def test_a_callback_in_another_browser_is_refused_and_changes_nothing(svc: Service) -> None:
    """A victim lured into opening someone else's callback URL (or a link forwarded to a colleague) binds
    nothing: without the cookie of the browser that opened the link, nothing is stored."""
    callback, browser = await _consent(svc)
    for other in ({}, {"Cookie": "nooks_oauth=forged"}):
        async with svc.http.get(callback, headers=other) as elsewhere:
            assert elsewhere.status == 400 and "another browser" in await elsewhere.text()
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"
    assert await svc.redis.keys("no:users:*") == [] and await svc.redis.keys("no:mapping:*") == []
    async with svc.http.get(callback, headers=browser) as own:  # the rep's own browser still completes it
        assert own.status == 200


async def test_signed_in_as_a_colleague_stores_nothing_and_says_who(svc: Service) -> None:
    # Cleo is connected and mapped; Ana's browser is signed in to Outreach as Ben (a colleague, or an admin).
    await connect_with_webhooks(svc, rep_email="cleo@acme.com")
    await worker_idle(svc)  # her subscriptions are made: what Outreach holds is settled
    users_before, mapping_before = (await svc.redis.hgetall(keys.users("team_acme")),
                                    await svc.redis.hgetall(keys.mapping("team_acme")))
    hooks_before = await svc.sandbox.records("webhook")
    await svc.sandbox.clear_requests()

    status, page = await svc.connect(rep_email="ana@acme.com", login_email="ben@acme.com")
    assert status == 400 and "Ben Okafor (ben@acme.com)" in page and "Nothing was stored" in page
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"
    assert not await svc.redis.exists(keys.connection("team_acme", "ana@acme.com"))
    assert await svc.redis.hgetall(keys.users("team_acme")) == users_before
    assert await svc.redis.hgetall(keys.mapping("team_acme")) == mapping_before
    # Whatever Ben's token created in Outreach (the identity probe) is gone again.
    assert await svc.sandbox.records("webhook") == hooks_before
    made = [r for r in await svc.sandbox.requests(path_prefix="/api/v2/webhooks") if r["method"] == "POST"]
    assert made, "the identity was not confirmed with the new token"


async def test_a_rep_mapped_to_another_user_may_consent_as_that_user(svc: Service) -> None:
    # Zoe has no Outreach user of her own; an admin mapped her to Cleo's user, so Cleo's login is Zoe's consent.
    status, _ = await svc.api("PUT", "/v1/teams/team_acme/user-mappings/zoe@acme.com", json={"outreach_user_id": 3})
    assert status == 200
    status, page = await svc.connect(rep_email="zoe@acme.com", login_email="cleo@acme.com")
    assert status == 200, page
    connection = await svc.connection("team_acme", "zoe@acme.com")
    assert connection["status"] == "connected" and connection["outreach_user_id"] == 3


async def test_an_unmapped_rep_without_an_outreach_user_is_refused(svc: Service) -> None:
    status, page = await svc.connect(rep_email="zoe@acme.com", login_email="cleo@acme.com")
    assert status == 400 and "cleo@acme.com" in page
    assert (await svc.connection("team_acme", "zoe@acme.com"))["status"] == "not_connected"


async def test_disconnect(svc: Service) -> None:
    await svc.connect()
    status, body = await svc.api("DELETE", "/v1/teams/team_acme/reps/ana@acme.com/connection")
    assert (status, body) == (200, {"status": "not_connected"})
    assert (await svc.connection("team_acme", "ana@acme.com"))["status"] == "not_connected"
    assert not await svc.redis.exists(keys.connection("team_acme", "ana@acme.com"))


async def test_connection_is_per_team(svc: Service) -> None:
    await svc.connect()
    assert (await svc.connection("team_other", "ana@acme.com"))["status"] == "not_connected"


# Another Outreach org (a customer's sandbox org, say) whose small integer ids repeat the team's: its user 2 is
# Zed (the team's user 2 is Ben), and its user 3 has Cleo's email and id (the same pair as in the team's org).
OTHER_ORG_USERS = [{"id": 1, "email": "root@sandbox.example", "firstName": "Root", "lastName": "Admin"},
                   {"id": 2, "email": "zed@sandbox.example", "firstName": "Zed", "lastName": "Sandbox"},
                   {"id": 3, "email": "cleo@acme.com", "firstName": "Cleo", "lastName": "Sandbox"}]


async def test_a_consent_from_another_org_is_refused_even_when_the_id_or_email_matches(svc: Service) -> None:
    """CONTRACT: a team is bound to the org of its first consent. A forwarded link opened by someone signed in to
    another org as its user 2 (the id Ben is mapped to), or as a user with Cleo's email and id, connected the rep
    to that org: the team's users were replaced by that org's, and calls would be written there."""
    await connect_with_webhooks(svc)  # Ana binds the team to the demo org
    await worker_idle(svc)
    status, _ = await svc.api("PUT", "/v1/teams/team_acme/user-mappings/ben@acme.com", json={"outreach_user_id": 2})
    assert status == 200
    users_before, mapping_before = (await svc.redis.hgetall(keys.users("team_acme")),
                                    await svc.redis.hgetall(keys.mapping("team_acme")))
    other = await svc.sandbox.add_org(OTHER_ORG_USERS)
    await svc.sandbox.login(org=other)
    try:
        for rep, login in (("ben@acme.com", "zed@sandbox.example"), ("cleo@acme.com", "cleo@acme.com")):
            status, page = await svc.connect(rep_email=rep, login_email=login)
            assert status == 400 and "another Outreach organization" in page and "Nothing was stored" in page, rep
            assert (await svc.connection("team_acme", rep))["status"] == "not_connected"
        assert await svc.redis.hgetall(keys.users("team_acme")) == users_before
        assert await svc.redis.hgetall(keys.mapping("team_acme")) == mapping_before
        # The same people in the team's own org connect as before.
        await svc.sandbox.login()
        assert (await svc.connect(rep_email="cleo@acme.com"))[0] == 200
        assert (await svc.connect(rep_email="ben@acme.com"))[0] == 200
    finally:
        await svc.sandbox.login()


async def test_the_last_rep_disconnecting_forgets_the_teams_users_and_org(svc: Service) -> None:
    """CONTRACT "Data kept": the team's Outreach users and its org binding go with its last rep; the User
    Mapping stays. The next consent binds the team again, to whichever org it comes from."""
    assert (await svc.connect())[0] == 200
    assert (await svc.connect(rep_email="ben@acme.com"))[0] == 200
    await svc.api("PUT", "/v1/teams/team_acme/user-mappings/zoe@acme.com", json={"outreach_user_id": 3})
    assert (await svc.api("DELETE", "/v1/teams/team_acme/reps/ana@acme.com/connection"))[0] == 200
    assert await svc.redis.exists(keys.users("team_acme"), keys.org_binding("team_acme")) == 2  # Ben is left
    assert (await svc.api("DELETE", "/v1/teams/team_acme/reps/ben@acme.com/connection"))[0] == 200
    assert await svc.redis.exists(keys.users("team_acme"), keys.org_binding("team_acme")) == 0
    mapping = {k.decode(): int(v) for k, v in (await svc.redis.hgetall(keys.mapping("team_acme"))).items()}
    assert mapping == {"ana@acme.com": 1, "ben@acme.com": 2, "zoe@acme.com": 3}

    other = await svc.sandbox.add_org(OTHER_ORG_USERS)
    await svc.sandbox.login(org=other)
    try:
        assert (await svc.connect(rep_email="cleo@acme.com"))[0] == 200  # binds the team to the other org now
    finally:
        await svc.sandbox.login()
    users = await svc.redis.hgetall(keys.users("team_acme"))
    assert sorted(int(user_id) for user_id in users) == [1, 2, 3] and b"zed@sandbox.example" in users[b"2"]


async def test_a_reconnect_in_a_bound_team_reads_a_sample_of_users_and_still_refuses_another_org(
        svc: Service) -> None:
    """Issue 21: only a team's first consent reads the whole directory; a reconnect checks the org with one read
    of a sample of the team's users (`filter[id]`), however big the org, and another org still cannot pass."""
    await svc.sandbox.seed(users=2500)
    await svc.sandbox.clear_requests()
    assert (await svc.connect())[0] == 200  # binds the team: 2,503 users, three pages of 1,000
    first = [r for r in await svc.sandbox.requests("/api/v2/users") if r["method"] == "GET"]
    assert len(first) == 3 and await svc.redis.hlen(keys.users("team_acme")) > 2500
    await worker_idle(svc)
    users_before = await svc.redis.hgetall(keys.users("team_acme"))

    await svc.sandbox.clear_requests()
    assert (await svc.connect())[0] == 200
    assert (await svc.connect(rep_email="ben@acme.com"))[0] == 200
    reads = [r for r in await svc.sandbox.requests("/api/v2/users") if r["method"] == "GET"]
    assert len(reads) == 2 and all("filter%5Bid%5D" in r["query"] or "filter[id]" in r["query"] for r in reads)

    other = await svc.sandbox.add_org(OTHER_ORG_USERS)
    await svc.sandbox.login(org=other)
    await svc.sandbox.clear_requests()
    try:
        status, page = await svc.connect(rep_email="cleo@acme.com")
        assert status == 400 and "another Outreach organization" in page
    finally:
        await svc.sandbox.login()
    assert len([r for r in await svc.sandbox.requests("/api/v2/users") if r["method"] == "GET"]) == 1
    assert await svc.redis.hgetall(keys.users("team_acme")) == users_before
    assert (await svc.connection("team_acme", "cleo@acme.com"))["status"] == "not_connected"
