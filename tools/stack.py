"""The whole stack as real processes: an embedded Redis, the bundled Outreach sandbox, and the Procfile's `web` and
`worker`. The one way `scripts/run` (tools/dev.py), the benchmarks (bench/) and the process tests (tests/support/)
start them.

Each process is started here and stopped by its own pid, never by name. Its output goes to a file of its own (never
a pipe a chatty process could fill), or to the terminal for `scripts/run`.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.embedded_redis import EmbeddedRedis, free_port, start_redis

ROOT = Path(__file__).resolve().parent.parent
# The OAuth app the sandbox knows (sandbox/README.md).
SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET = "sandbox-client-id", "sandbox-client-secret"
_LOGS: list[Path] = []

__all__ = ["ROOT", "EmbeddedRedis", "Proc", "child_env", "free_port", "log_dir", "procfile", "sandbox_env", "spawn",
           "start_procfile", "start_redis", "start_sandbox", "wait_http", "wait_output", "web_env"]


def procfile() -> dict[str, str]:
    """The Procfile's process types and their commands."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines) if command}


def log_dir() -> Path:
    """This run's process logs (made on first use, so that a process importing this module makes none)."""
    if not _LOGS:
        _LOGS.append(Path(tempfile.mkdtemp(prefix="nooks-stack-logs-")))
    return _LOGS[0]


def child_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """`base` (this process's environment by default) and `extra`, with this interpreter's directory first on PATH
    (so the Procfile's `python` is this virtualenv's) and output unbuffered."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return {**env, **extra}


def sandbox_env(sandbox_url: str) -> dict[str, str]:
    """What points the service at the bundled sandbox: its API and OAuth URLs and the OAuth app it knows."""
    return {"OUTREACH_API_URL": f"{sandbox_url}/api/v2", "OUTREACH_OAUTH_URL": f"{sandbox_url}/oauth",
            "OUTREACH_CLIENT_ID": SANDBOX_CLIENT_ID, "OUTREACH_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}


def web_env(port: int) -> dict[str, str]:
    """A web process on loopback `port`, and the public URL it derives its OAuth and webhook URLs from."""
    return {"PORT": str(port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}


@dataclass(eq=False)
class Proc:
    """One started process; `log` is the file its output goes to (None: the terminal)."""

    role: str
    popen: subprocess.Popen[bytes]
    log: Path | None = None
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace") if self.log else ""
        except OSError:
            return ""

    def terminate(self, timeout: float = 30, sig: signal.Signals = signal.SIGTERM) -> tuple[int, float]:
        """Send `sig` (SIGTERM); (exit status, seconds it took to exit). Killed, and status -9, past `timeout`."""
        started = time.monotonic()
        self.popen.send_signal(sig)
        try:
            status = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            status = self.popen.wait()
        return status, time.monotonic() - started

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.alive():
            self.terminate(timeout, sig)

    def close(self) -> None:
        """Stop it and delete its log."""
        self.stop()
        if self.log is not None:
            self.log.unlink(missing_ok=True)


def spawn(role: str, args: list[str], env: Mapping[str, str], *, port: int | None = None,
          terminal: bool = False) -> Proc:
    """Start `args` in the repository's root, its output in a file of `log_dir()` (or on the terminal)."""
    if terminal:
        return Proc(role, subprocess.Popen(args, cwd=ROOT, env=dict(env)), None, port)  # noqa: S603
    log = log_dir() / f"{role}-{time.monotonic_ns()}.log"
    with log.open("wb") as handle:
        popen = subprocess.Popen(args, cwd=ROOT, env=dict(env), stdout=handle, stderr=subprocess.STDOUT)  # noqa: S603
    return Proc(role, popen, log, port)


def start_procfile(name: str, env: Mapping[str, str], *, role: str | None = None, terminal: bool = False) -> Proc:
    """The Procfile's `name` process (`web` listens on the environment's PORT); not waited for."""
    port = int(env["PORT"]) if name == "web" and env.get("PORT") else None
    return spawn(role or name, shlex.split(procfile()[name]), env, port=port, terminal=terminal)


def start_sandbox(env: Mapping[str, str] | None = None, *, seed: str = "demo", terminal: bool = False) -> Proc:
    """The bundled Outreach sandbox on a free loopback port, seeded (`demo`: the demo org), answering."""
    port = free_port()
    proc = spawn("sandbox", [sys.executable, "-m", "sandbox", "--host", "127.0.0.1", "--port", str(port),
                             "--seed", seed, "--log-level", "warning"], child_env(env), port=port, terminal=terminal)
    wait_http(f"http://127.0.0.1:{port}/_sandbox/state", proc)
    return proc


def wait_http(url: str, proc: Proc | None = None, timeout: float = 30.0) -> None:
    """Until `url` answers 200; an error naming what `proc` printed if it exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.role} exited early:\n{proc.output()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (loopback only)
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    tail = f":\n{proc.output()[-3000:]}" if proc is not None else ""
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s{tail}")


def wait_output(proc: Proc, needle: str, timeout: float = 30.0) -> None:
    """Until `proc` has printed `needle`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in proc.output():
            return
        if not proc.alive():
            raise RuntimeError(f"{proc.role} exited early:\n{proc.output()[-3000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{proc.role} never printed {needle!r}:\n{proc.output()[-3000:]}")
