"""A real ``redis-server`` on a free loopback port, for the tests of limits shared through Redis.

Nothing starts Redis on the machines that run the tests: :class:`RedisServer` starts
``redis-server --port N --bind 127.0.0.1 --save '' --appendonly no`` (no persistence) and stops
it by its PID. When ``redis-server`` is not installed the tests that need it skip with a visible
reason, unless ``FANSCOPE_REQUIRE_REDIS=1`` (set by ``.ci/run``) makes them fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

MISSING = (
    "redis-server is not installed: the Redis tests need a real server "
    "(apt-get install redis-server); FANSCOPE_REQUIRE_REDIS=1 makes this a failure"
)


def redis_server_binary() -> str:
    """The path of ``redis-server``; skips (or fails under FANSCOPE_REQUIRE_REDIS=1) without it."""
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("FANSCOPE_REQUIRE_REDIS") == "1":
            pytest.fail(MISSING, pytrace=False)
        pytest.skip(MISSING)
    return found


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

    def __init__(self) -> None:
        self.binary = redis_server_binary()
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        # a port free when asked may be taken before the server binds it: try a few
        for _ in range(5):
            self.port = _free_port()
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
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
