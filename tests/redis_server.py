"""The real ``redis-server`` of the tests of limits shared through Redis.

:class:`fanscope.testing.RedisServer` starts ``redis-server --port N --bind 127.0.0.1 --save ''
--appendonly no`` on a free loopback port and stops it by its PID. When ``redis-server`` is not
installed the tests that need it skip with a visible reason, unless ``FANSCOPE_REQUIRE_REDIS=1``
(set by ``.ci/run``) makes them fail.
"""

from __future__ import annotations

import os

import pytest

from fanscope.testing.redis_server import RedisServer as _Server

MISSING = (
    "redis-server is not installed: the Redis tests need a real server "
    "(apt-get install redis-server); FANSCOPE_REQUIRE_REDIS=1 makes this a failure"
)


def RedisServer() -> _Server:
    """A server not yet started; skips (or fails under FANSCOPE_REQUIRE_REDIS=1) without one."""
    try:
        return _Server()
    except FileNotFoundError:
        if os.environ.get("FANSCOPE_REQUIRE_REDIS") == "1":
            pytest.fail(MISSING, pytrace=False)
        pytest.skip(MISSING)
