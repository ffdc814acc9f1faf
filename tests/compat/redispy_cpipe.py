"""pytest plugin: redis-py's test fixtures hand out cpipe clients.

Loaded with `-p redispy_cpipe` into a run of redis-py's own test files (see
redispy_suite.py). redis-py builds every client its tests get in two places:

- tests/conftest.py `_get_client(cls, request, ...)`, behind the `r`,
  `r2`, `decoded_r`, `r_timeout` fixtures and called by tests directly;
- tests/test_asyncio/conftest.py `create_redis`, whose factory defaults to
  `cls=redis.Redis` (redis.asyncio) and builds `cls(connection_pool=pool)`.

Both are left as redis-py wrote them, options, URL parsing, single-connection
`.client()` and teardown included; only the class changes: a request for
`redis.Redis` gets `cpipe.Redis`, one for `redis.asyncio.Redis` gets
`cpipe.asyncio.Redis`. Clients a test builds itself with `redis.Redis(...)`
stay redis-py's. The swap is made as each conftest module is registered,
before pytest reads its fixtures and before any test module imports
`_get_client` from it.
"""
from __future__ import annotations

import functools
import json
import types
from typing import Any

import pytest
import redis
import redis.asyncio

import cpipe


# How many clients the fixtures asked for with cpipe's classes, written next to
# the results: a run where this stays 0 tested redis-py twice, and the suite
# runner refuses it.
HANDED_OUT = {"sync": 0, "asyncio": 0}


def _cpipe_get_client(original: Any) -> Any:
    @functools.wraps(original)
    def _get_client(cls: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if cls is redis.Redis:
            cls = cpipe.Redis
            HANDED_OUT["sync"] += 1
        return original(cls, request, *args, **kwargs)

    return _get_client


class _RedisAsyncioWithCpipe(types.ModuleType):
    """redis.asyncio as tests/test_asyncio/conftest.py sees it, with Redis
    being cpipe.asyncio.Redis; every other name is redis.asyncio's."""

    @property
    def Redis(self) -> Any:  # noqa: N802 - the name redis-py's conftest reads
        HANDED_OUT["asyncio"] += 1
        # Imported here, not with the plugin: a broken cpipe.asyncio fails the
        # asyncio tests (each with the import error), not the sync run too.
        import cpipe.asyncio

        return cpipe.asyncio.Redis

    def __getattr__(self, name: str) -> Any:
        return getattr(redis.asyncio, name)


@pytest.hookimpl(tryfirst=True)
def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    name = getattr(plugin, "__name__", "")
    if name == "tests.conftest":
        if not callable(getattr(plugin, "_get_client", None)):
            raise RuntimeError("redis-py's tests/conftest.py has no _get_client: "
                               "update tests/compat/redispy_cpipe.py for this redis-py release")
        plugin._get_client = _cpipe_get_client(plugin._get_client)  # type: ignore[attr-defined]
    elif name == "tests.test_asyncio.conftest":
        if getattr(plugin, "redis", None) is not redis.asyncio:
            raise RuntimeError("tests/test_asyncio/conftest.py no longer imports redis.asyncio as redis: "
                               "update tests/compat/redispy_cpipe.py for this redis-py release")
        plugin.redis = _RedisAsyncioWithCpipe("redis.asyncio")  # type: ignore[attr-defined]


def pytest_report_header() -> str:
    return f"redis-py's fixtures hand out cpipe {cpipe.__version__} clients ({cpipe.__file__})"


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--compat-results") + ".clients.json"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(HANDED_OUT, f)
