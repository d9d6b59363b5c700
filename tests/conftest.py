"""Session-wide real parts: a redis-server, the Outreach sandbox over HTTP, and the service itself (the
Starlette app under uvicorn and an arq worker) on loopback ports. Each test starts from a clean slate."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
import uvicorn
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from ingress.app import create_app
from sandbox.client import SandboxControl
from sandbox.server import RunningSandbox, start_sandbox_in_thread
from schemas.settings import Settings
from store import jobs
from store.job_queue import QueueWorker as Worker
from store.job_queue import create_worker
from store.redis import connect
from tests.support import conformance
from tests.support.nooks import EVENTS_SECRET
from tests.support.notify import NOTIFY_SECRET, NotifyReceiver, start_receiver
from tests.support.service import METRICS_TOKEN, OPS_READONLY, Service
from tools.embedded_redis import EmbeddedRedis, free_port, start_redis
from workers.settings import WorkerSettings, tuned

API_TOKEN = "nooks-api-token-for-tests"
CRON_IDS = ("cron:", *(f"{name}:" for name in jobs.CRON))  # arq names a cron job `<name>:<tick>`
OPS = ("ops", "ops-password-for-tests")
TOKEN_KEYS = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    server = start_redis(persist=False)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def outreach() -> Iterator[RunningSandbox]:
    running = start_sandbox_in_thread(audit=True)
    conformance.watch(running.sandbox)
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def outreach_contract() -> Iterator[None]:
    """Every response the sandbox served and every request the service sent during the test keeps to Outreach's
    OpenAPI (tests/support/conformance.py)."""
    yield
    problems = conformance.check_exchanges()
    if problems:
        pytest.fail("Outreach's contract broken:\n" + "\n".join(problems[:20]), pytrace=False)


SHOWN = "shown after the run"  # a test's user property whose text the run prints at its end (the fault suite's figures)
_shown: list[str] = []
_workers_problems: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _shown.extend(str(text) for name, text in report.user_properties if name == SHOWN)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """An xdist worker finished: keep the requests its service sent and its last problems for the run's report."""
    output = getattr(node, "workeroutput", {})
    conformance.import_traffic(output.get("outreach_traffic", []))
    _workers_problems.extend(output.get("outreach_problems", []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The regression net: every distinct request the service sent during the run, checked against the spec (by
    the xdist controller for the whole run, each worker handing over what its tests sent)."""
    problems = conformance.check_exchanges()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["outreach_traffic"] = conformance.export_traffic()
        workeroutput["outreach_problems"] = problems
        return
    problems += _workers_problems + conformance.traffic_problems()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and conformance.TRAFFIC:
        reporter.write_line(f"Outreach contract: {len(conformance.TRAFFIC)} distinct requests of the service "
                            f"checked, {len(problems)} refused")
        for problem in problems:
            reporter.write_line(f"  refused by Outreach's contract: {problem}", red=True)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for text in _shown:
        terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def web_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
async def notify_receiver() -> AsyncIterator[NotifyReceiver]:
    """The dialer's notification endpoint (NOOKS_NOTIFY_URL) for the whole session."""
    receiver, runner = await start_receiver()
    yield receiver
    await runner.cleanup()


@pytest.fixture
def notify(notify_receiver: NotifyReceiver) -> NotifyReceiver:
    """The notification receiver, emptied and answering 204 again."""
    notify_receiver.reset()
    return notify_receiver


@pytest.fixture(scope="session")
def settings(redis_server: EmbeddedRedis, outreach: RunningSandbox, web_port: int,
             notify_receiver: NotifyReceiver) -> Settings:
    return Settings(
        redis_url=redis_server.url,
        public_base_url=f"http://127.0.0.1:{web_port}",
        outreach_api_url=outreach.api_url,
        outreach_oauth_url=outreach.oauth_url,
        outreach_client_id="sandbox-client-id",
        outreach_client_secret="sandbox-client-secret",
        nooks_events_secret=EVENTS_SECRET,
        nooks_api_token=API_TOKEN,
        token_encryption_keys=TOKEN_KEYS,
        ops_username=OPS[0],
        ops_password=OPS[1],
        ops_readonly_username=OPS_READONLY[0],
        ops_readonly_password=OPS_READONLY[1],
        nooks_notify_url=notify_receiver.url,
        nooks_notify_secret=NOTIFY_SECRET,
        metrics_token=METRICS_TOKEN,
        _env_file=None,  # type: ignore[call-arg]
    )


async def _serve(settings: Settings, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


def make_worker(settings: Settings) -> Worker:
    return create_worker(WorkerSettings, connect(settings), ctx={"settings": settings},
                         **{**tuned(settings), "handle_signals": False, "poll_delay": 0.02})


@pytest.fixture(scope="session")
async def worker(settings: Settings) -> AsyncIterator[Worker]:
    """The service's arq worker, in this process's event loop."""
    running = make_worker(settings)
    task = asyncio.create_task(running.async_run())
    yield running
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    # Jobs still running (a cron, a sync) were cancelled with the worker; arq's close() would gather them again
    # and re-raise their CancelledError into the last test's teardown.
    await asyncio.gather(*running.tasks.values(), return_exceptions=True)
    running.tasks.clear()
    await running.close()


@pytest.fixture(scope="session")
async def web(settings: Settings, web_port: int) -> AsyncIterator[uvicorn.Server]:
    """The app under uvicorn, in this process's event loop."""
    server, task = await _serve(settings, web_port)
    yield server
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def service(settings: Settings, outreach: RunningSandbox, web: uvicorn.Server, worker: Worker
                  ) -> AsyncIterator[Service]:
    redis = Redis.from_url(settings.redis_url)
    control = SandboxControl(outreach.base_url)
    async with aiohttp.ClientSession() as http:
        yield Service(base_url=settings.public_base_url, settings=settings, redis=redis, http=http,
                      sandbox=control, api_token=API_TOKEN, ops=OPS)
    await redis.aclose()
    await control.close()


@pytest.fixture
async def svc(service: Service, web: uvicorn.Server, worker: Worker) -> AsyncIterator[Service]:
    """The running service with an empty Redis and a freshly seeded sandbox.

    A job still running from the previous test would write into the fresh state: wait (bounded) for the worker
    to finish it first (a cron job is not waited for: it may run any time, and reads what it finds). The figures
    and story steps the app and the worker still buffer are written before Redis is emptied, not into this test's.
    """
    running = [task for job_id, task in worker.tasks.items() if not job_id.startswith(CRON_IDS) and not task.done()]
    if running:
        await asyncio.wait(running, timeout=10)
    flushers = [services.ops.flusher for services in (web.lifespan.state.get("services"), worker.ctx.get("services"))
                if services is not None]
    for flusher in flushers:
        await flusher.flush()  # its last figures written (after any flush in flight)
    await service.redis.flushdb()
    for flusher in flushers:
        flusher.beat_next()  # a worker's heartbeat went with the rest: written again at once, not 5 s on
    await service.sandbox.reset()
    await service.sandbox.seed()
    yield service


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
