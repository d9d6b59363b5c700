"""Run the sandbox under uvicorn in a background thread on a free loopback port (for test fixtures)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from .app import SandboxApp, create_app
from .core import Sandbox


@dataclass
class RunningSandbox:
    base_url: str  # e.g. http://127.0.0.1:54321 ; the API is at {base_url}/api/v2, OAuth at {base_url}/oauth
    app: SandboxApp
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v2"

    @property
    def oauth_url(self) -> str:
        return f"{self.base_url}/oauth"

    @property
    def sandbox(self) -> Sandbox:
        """Direct access to state and knobs (they live on the server thread: prefer the control API)."""
        return self.app.sandbox

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox_in_thread(host: str = "127.0.0.1", port: int = 0, **app_options: Any) -> RunningSandbox:
    """Start and wait until it answers; `app_options` go to `create_app` (seed_demo, client_id, knobs...)."""
    app = create_app(**app_options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # On stop, an answer still held back by a latency knob (up to minutes) is cut off after a second, not awaited.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=30,
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="outreach-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the Outreach sandbox did not start")
        time.sleep(0.01)
    bound_port = sock.getsockname()[1]
    return RunningSandbox(f"http://{host}:{bound_port}", app, server, thread)
