"""The README's first command: run the whole service locally for real, then show a call landing.

Anything configured in the environment (or `.env`) is used as is. What is missing is supplied: an embedded
redis-server when REDIS_URL is unset; the bundled Outreach sandbox (seeded with a demo org) when no Outreach
app is configured; generated development secrets. Then the Procfile's `web` and `worker` start, the demo rep
connects through the real OAuth flow, and a signed sample event is posted and followed into Outreach.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import aiohttp
from cryptography.fernet import Fernet
from dotenv import dotenv_values

from tools import stack
from tools.sample import post_sample

DEMO_TEAM, DEMO_REP = "team_acme", "ana@acme.com"


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class Run:
    """What this run started (tools/stack.py starts each), and the environment of the service's processes."""

    def __init__(self) -> None:
        dotenv = {k: v for k, v in dotenv_values(stack.ROOT / ".env").items() if v is not None}
        self.env = stack.child_env({**dotenv, **os.environ})
        self.processes: list[stack.Proc] = []
        self.redis: stack.EmbeddedRedis | None = None
        self.sandbox_url: str | None = None
        self.generated: list[str] = []

    def prepare(self) -> None:
        env = self.env
        if not env.get("REDIS_URL"):
            self.redis = stack.start_redis(persist=True)
            env["REDIS_URL"] = self.redis.url
        port = int(env.get("PORT") or 8000)
        if not port_free(port):
            port = stack.free_port()
        env["PORT"] = str(port)
        env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
        if not env.get("OUTREACH_CLIENT_ID"):
            sandbox = stack.start_sandbox(env, terminal=True)
            self.processes.append(sandbox)
            self.sandbox_url = f"http://127.0.0.1:{sandbox.port}"
            env.update(stack.sandbox_env(self.sandbox_url))
        self.default("NOOKS_EVENTS_SECRET", "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        self.default("NOOKS_API_TOKEN", secrets.token_urlsafe(24))
        self.default("TOKEN_ENCRYPTION_KEYS", Fernet.generate_key().decode())
        self.default("CURSOR_SECRET", secrets.token_urlsafe(32))
        self.default("OPS_USERNAME", "ops")
        self.default("OPS_PASSWORD", secrets.token_urlsafe(12))

    def default(self, name: str, value: str) -> None:
        if not self.env.get(name):
            self.env[name] = value
            self.generated.append(name)

    def start(self) -> None:
        """The Procfile's processes, output on this terminal."""
        for name in stack.procfile():
            self.processes.append(stack.start_procfile(name, self.env, terminal=True))

    def stop(self) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                process.stop()
        if self.redis is not None:
            self.redis.stop()


async def demo(run: Run) -> str:
    """Connect the demo rep through the real OAuth flow, post a sample call, follow it into the sandbox."""
    env, base = run.env, run.env["PUBLIC_BASE_URL"]
    auth = {"Authorization": f"Bearer {env['NOOKS_API_TOKEN']}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/v1/teams/{DEMO_TEAM}/reps/{DEMO_REP}/connect-link", headers=auth) as r:
            link = (await r.json())["url"]
        async with http.get(link, allow_redirects=False) as r:
            authorize = urlsplit(r.headers["Location"])
            # The consent completes only in the browser that started it: send back the cookie /start set.
            browser = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())}
        query = {k: v[0] for k, v in parse_qs(authorize.query).items()} | {"login_email": DEMO_REP}
        async with http.get(urlunsplit(authorize._replace(query=urlencode(query))), allow_redirects=False) as r:
            callback = r.headers["Location"]
        async with http.get(callback, headers=browser) as r:
            if r.status != 200:
                return f"connecting the demo rep failed ({r.status})"
        call_id = f"call_demo_{secrets.token_hex(3)}"
        status, text = await post_sample(base, env["NOOKS_EVENTS_SECRET"], call_id)
        started = time.monotonic()
        while time.monotonic() - started < 15:
            async with http.get(f"{run.sandbox_url}/_sandbox/records/call") as r:
                calls = (await r.json())["data"]
            landed = [c for c in calls if c["attributes"].get("vendorCallId") == call_id]
            if landed:
                ms = (time.monotonic() - started) * 1000
                outcome = await after_call(http, run.sandbox_url or "", call_id)
                tasks = await call_task_list(http, base, auth)
                return (f"sample event → {status} {text}\n  call {call_id} landed in Outreach as call "
                        f"{landed[0]['id']} in {ms:.0f} ms (prospect 3456, task 1122 completed)\n"
                        f"{outcome}\n{tasks}\n{await refused(http, run.sandbox_url)}")
            await asyncio.sleep(0.1)
        return f"sample event → {status} {text}, but the call did not land within 15 s: see /ops"


async def after_call(http: aiohttp.ClientSession, sandbox_url: str, call_id: str) -> str:
    """The sample's outcome in the sandbox: the follow-up call task (found by its note's marker) and the finished
    sequence state."""
    marker = f"[nooks:{call_id}]"
    started = time.monotonic()
    while time.monotonic() - started < 10:
        async with http.get(f"{sandbox_url}/_sandbox/records/task") as r:
            follow_ups = [t for t in (await r.json())["data"] if marker in str(t["attributes"].get("note") or "")]
        if follow_ups:
            async with http.get(f"{sandbox_url}/_sandbox/records/sequenceState/7001") as r:
                state = (await r.json())["data"]["attributes"]["state"]
            task = follow_ups[0]
            return (f"  after the call: follow-up call task {task['id']} due {task['attributes']['dueAt']}, "
                    f"sequence state 7001 {state} (finish_replied)")
        await asyncio.sleep(0.1)
    return "  after the call: the follow-up did not appear within 10 s: see /ops"


async def call_task_list(http: aiohttp.ClientSession, base: str, auth: dict[str, str], shown: int = 5) -> str:
    """The demo rep's due call tasks, as the dialer reads them (GET .../call-tasks)."""
    async with http.get(f"{base}/v1/teams/{DEMO_TEAM}/reps/{DEMO_REP}/call-tasks?limit=200", headers=auth) as r:
        if r.status != 200:
            return f"  the call-task list did not load: {r.status} {await r.text()}"
        page = await r.json()
    lines = [f"  {DEMO_REP}'s call-task list: {len(page['tasks'])} due call tasks "
             f"({page['opted_out_skipped']} skipped: prospect opted out of calls), oldest due first:"]
    tasks = page["tasks"]
    # the oldest due, then the newest (the demo's sequence tasks, with their step and purpose)
    picked = tasks if len(tasks) <= shown else [*tasks[:shown - 2], None, *tasks[-2:]]
    for task in picked:
        if task is None:
            lines.append(f"    ... {len(tasks) - shown} more ...")
            continue
        prospect = task["prospect"] or {}
        phone = (prospect.get("phones") or [{}])[0].get("number")
        step, purpose = task["step"] or {}, task["call_purpose"] or {}
        lines.append(f"    task {task['task_id']}  due {task['due_at']}  {prospect.get('name')}  {phone}"
                     + (f"  step '{step.get('name')}'" if step else "")
                     + (f"  purpose '{purpose.get('name')}'" if purpose else ""))
    return "\n".join(lines)


async def refused(http: aiohttp.ClientSession, sandbox_url: str | None) -> str:
    """What the sandbox (as strict as Outreach's OpenAPI) refused of the service's requests so far."""
    async with http.get(f"{sandbox_url}/_sandbox/state") as r:
        state = await r.json()
    total = sum(n for route, n in state["request_counts"].items() if route.split(" ")[1].startswith("/api"))
    refusals = state["refusals"]  # 4xx other than 401 and 429, by route and status
    if not refusals:
        return f"  the sandbox refused none of the service's {total} Outreach requests"
    return "  the sandbox refused:\n" + "\n".join(f"    {route}: {n}" for route, n in refusals.items())


def banner(run: Run, demo_result: str | None) -> str:
    env, base = run.env, run.env["PUBLIC_BASE_URL"]
    lines = [
        "", "Nooks ⇄ Outreach is running.",
        f"  web      {base}   (healthz, readyz, metrics)",
        f"  ops      {base}/ops   user {env['OPS_USERNAME']} / password {env['OPS_PASSWORD']}",
        f"  redis    {env['REDIS_URL']}" + ("  (embedded)" if run.redis else ""),
        f"  outreach {env.get('OUTREACH_API_URL')}" + ("  (bundled sandbox, demo org)" if run.sandbox_url else ""),
    ]
    if run.generated:
        lines.append(f"  generated for this run: {', '.join(run.generated)}")
    if demo_result:
        lines += ["", demo_result]
    lines += [
        "", "Try:",
        f"  NOOKS_EVENTS_SECRET='{env['NOOKS_EVENTS_SECRET']}' PUBLIC_BASE_URL={base} "
        ".venv/bin/python -m tools.sample        # post another signed call.completed",
        f"  curl -H 'Authorization: Bearer {env['NOOKS_API_TOKEN']}' "
        f"{base}/v1/teams/{DEMO_TEAM}/reps/{DEMO_REP}/connection",
        f"  curl -u {env['OPS_USERNAME']}:{env['OPS_PASSWORD']} {base}/ops/api/dead-letters",
    ]
    if run.sandbox_url:
        lines.append(f"  curl {run.sandbox_url}/_sandbox/records/call              # calls in the sandbox")
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(lines)


def main() -> None:
    running = Run()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        running.prepare()
        running.start()
        stack.wait_http(f"{running.env['PUBLIC_BASE_URL']}/readyz")
        result = asyncio.run(demo(running)) if running.sandbox_url else None
        print(banner(running, result), flush=True)
        while not stopping and all(p.alive() for p in running.processes):
            time.sleep(0.5)
        for process in running.processes:
            if not process.alive() and not stopping:
                print(f"{process.role} exited with {process.popen.returncode}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


if __name__ == "__main__":
    main()
