"""Redis servers a test can restart, kill and fail over: AOF on, fixed port and directory per node, and Sentinel."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis

from tools.embedded_redis import free_port, redis_server_binary


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def answer(port: int, command: bytes = b"PING", timeout: float = 1, password: str | None = None) -> bytes:
    """The first bytes a server on `port` answers to `command` (b"" when nothing listens or answers in time),
    after `AUTH password` when one is given."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            if password is not None:
                sock.sendall(f"AUTH {password}\r\n".encode())
                if not _line(sock).startswith(b"+OK"):
                    return b"-NOAUTH"
            sock.sendall(command + b"\r\n")
            return sock.recv(64)
    except OSError:
        return b""


def _line(sock: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line


def wait_until(condition: object, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def redis_major_version() -> int:
    version = subprocess.run([redis_server_binary(), "--version"], capture_output=True, check=True).stdout
    return int(version.split(b"v=")[1].split(b".")[0])


@dataclass
class RedisNode:
    """One redis-server with an append-only file, restartable on the same port with the same data."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    password: str | None = None  # `requirepass` (and `masterauth`, for a replica of a node with the same one)

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def start(self, *extra: str, ready: bool = True) -> None:
        """Start (again); with `ready`, wait until it answers PONG (not LOADING)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--protected-mode", "no",
                # Uncompressed, `fill`'s values make a file of their full size: Redis 6 answers LOADING only
                # between 2 MB chunks of it.
                "--rdbcompression", "no",
                # A replica's first sync starts at once (through a file), not after the 5 s a diskless one waits.
                "--repl-diskless-sync", "no",
                "--loglevel", "warning", "--logfile", str(self.directory / "redis.log"), *self._auth(), *extra]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: listening(self.port), 10, f"redis on {self.port} listening")
        if ready:
            self.wait_ready()

    def _auth(self) -> list[str]:
        return ["--requirepass", self.password, "--masterauth", self.password] if self.password else []

    def wait_ready(self, timeout: float = 60) -> None:
        wait_until(lambda: answer(self.port, password=self.password).startswith(b"+PONG"), timeout,
                   f"redis on {self.port} ready")

    def loading(self) -> bool:
        # Redis 6 answers only between 2 MB chunks of the file: give it time to.
        return answer(self.port, timeout=5, password=self.password).startswith(b"-LOADING")

    def start_loading_slowly(self) -> None:
        """Restart and take seconds (about 10) to load what `fill` wrote (each key's load delayed), answering
        LOADING meanwhile (between chunks of the file)."""
        extra = ["--key-load-delay", "100"]
        if redis_major_version() >= 7:  # answer between smaller chunks (Redis 6 has no such setting)
            extra += ["--loading-process-events-interval-bytes", "65536"]
        self.start(*extra, ready=False)

    def client(self, db: int = 0) -> Redis:
        return Redis(port=self.port, db=db, password=self.password, socket_timeout=30)

    def in_sync_with(self, master: RedisNode) -> bool:
        """A replica whose link to `master` is up and that has everything the master has written."""
        with self.client() as replica, master.client() as primary:
            mine: dict[str, object] = replica.info("replication")
            theirs: dict[str, object] = primary.info("replication")
        return mine.get("master_link_status") == "up" and mine.get("slave_repl_offset") == theirs.get(
            "master_repl_offset")

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def fill(self, keys: int = 50_000, size: int = 1000, db: int = 9) -> None:
        """`keys` filler values of `size` bytes in a database of their own, then an AOF rewrite: what a restart
        has to load (50 MB by default)."""
        client = Redis(port=self.port, db=db, password=self.password, socket_timeout=60)
        script = ("local value = string.rep('x', tonumber(ARGV[2])) "
                  "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'filler:' .. i, value) end return 1")
        client.eval(script, 0, str(keys), str(size))
        client.execute_command("BGREWRITEAOF")  # type: ignore[no-untyped-call]

        def rewritten() -> bool:
            persistence: dict[str, int] = client.info("persistence")  # type: ignore[assignment]
            return persistence["aof_rewrite_in_progress"] == 0 and persistence["aof_rewrite_scheduled"] == 0

        wait_until(rewritten, 60, "AOF rewrite")
        client.close()


@dataclass
class Sentinels:
    """Three Sentinels watching one master (quorum 2), quick to fail over."""

    directory: Path
    master: str = "nooks"
    ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    password: str | None = None  # the Sentinels' own `requirepass` (REDIS_SENTINEL_PASSWORD)
    master_password: str | None = None  # the monitored Redis nodes' `requirepass`

    @property
    def setting(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, master_port: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            conf = self.directory / f"sentinel-{port}.conf"  # Sentinel rewrites its file: one each
            auth = ""
            if self.master_password:
                auth += f"sentinel auth-pass {self.master} {self.master_password}\n"
            if self.password:  # their own password, which they also use with each other
                auth += f"requirepass {self.password}\nsentinel sentinel-pass {self.password}\n"
            conf.write_text(f"port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {self.directory}\n"
                            f"logfile {self.directory / f'sentinel-{port}.log'}\n"
                            f"sentinel monitor {self.master} 127.0.0.1 {master_port} 2\n{auth}"
                            f"sentinel down-after-milliseconds {self.master} 1000\n"
                            f"sentinel failover-timeout {self.master} 10000\n")
            self.processes.append(subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            wait_until(lambda port=port: answer(port, password=self.password).startswith(b"+PONG"), 10,
                       f"sentinel on {port}")
        wait_until(lambda: self.master_port() == master_port, 10, "sentinels agree on the master")

    def master_port(self) -> int | None:
        """The master's port as the first Sentinel that answers names it."""
        for port in self.ports:
            reply = answer(port, f"SENTINEL get-master-addr-by-name {self.master}".encode(), password=self.password)
            parts = reply.split(b"\r\n")
            if len(parts) >= 5 and parts[4].isdigit():
                return int(parts[4])
        return None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
