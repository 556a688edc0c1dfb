"""A real ``redis-server`` on a free loopback port, for tests and benchmarks of shared limits.

    from fanscope.testing import RedisServer

    with RedisServer() as server:          # redis-server --port N --bind 127.0.0.1, no persistence
        backend = fanscope.RedisBackend(server.url, key="run-1")

It starts Debian's (or any) ``redis-server`` found on ``PATH`` without persistence
(``--save '' --appendonly no``) and stops it by its PID. :class:`FileNotFoundError` when there is
none: install the ``redis-server`` package.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from types import TracebackType

MISSING = "redis-server is not installed (apt-get install redis-server)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, without persistence."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError(MISSING)
        self.binary = found
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        # a port free when asked may be taken before the server binds it: try a few
        for _ in range(5):
            self.port = _free_port()
            args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
            self.proc = subprocess.Popen(
                [*args, "--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(200):
                if _ping(self.port):
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            self.stop()
        raise RuntimeError("redis-server did not start on a free loopback port (5 tries)")

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL if it lingers)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), as a crash would."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
