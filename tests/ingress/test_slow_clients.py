"""Slow and numerous clients: a body that trickles in is cut off with 408, and a web process holds a bounded
number of requests (uvicorn's `limit_concurrency`, from WEB_MAX_CONCURRENCY) answering 503 beyond it."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.servers import running_app
from tests.support.service import Service
from tests.test_procfile import process_env, started, wait_ready

__all__ = ["process_env"]  # the fixture, shared with tests/test_procfile.py


async def _open_request(base_url: str, head: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


SLOW_POST = ("POST /v1/nooks/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: 1000\r\n\r\n{\"id\": ")


async def test_a_body_that_trickles_in_is_cut_off_with_408(svc: Service) -> None:
    async with running_app(svc.settings, web_body_timeout=0.5) as base:
        reader, writer = await _open_request(base, SLOW_POST)
        try:
            answer = await asyncio.wait_for(reader.read(4096), timeout=5)
        finally:
            writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"body_timeout" in answer
        # A request that sends its body at once is unaffected.
        reader, writer = await _open_request(base, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(4096), timeout=5)).startswith(b"HTTP/1.1 200")
        writer.close()


async def test_the_web_process_answers_503_beyond_its_concurrency_limit(process_env: dict[str, str]) -> None:
    env = {**process_env, "WEB_MAX_CONCURRENCY": "2", "WEB_BODY_TIMEOUT": "30"}
    base = env["PUBLIC_BASE_URL"]
    async with started("web", env):
        await wait_ready(base)
        holding = [await _open_request(base, SLOW_POST) for _ in range(2)]
        await asyncio.sleep(0.3)  # both are inside the app, waiting for their bodies
        reader, writer = await _open_request(base, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            assert (await asyncio.wait_for(reader.read(4096), timeout=5)).startswith(b"HTTP/1.1 503")
        finally:
            writer.close()
            for _, held in holding:
                held.close()
                with contextlib.suppress(ConnectionError):
                    await held.wait_closed()
