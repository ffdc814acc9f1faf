"""The client fixtures of tests/libraries (see there), for libraries that need redis-py < 6.

These libraries cannot be installed next to redis-py 6+, so this directory
runs only in .venv-redis5 (`make test-redis5`); elsewhere it refuses to run
instead of failing on a missing import.
"""
import redis

from tests.libraries.conftest import (  # noqa: F401 - pytest finds fixtures by name
    admin,
    make_async_client,
    make_client,
    no_threads_left_behind,
    redis_py_connections,
)

if int(redis.__version__.split(".")[0]) >= 6:
    raise RuntimeError(
        f"tests/libraries_redis5 needs redis-py 5 (arq pins redis<6), this is {redis.__version__}: "
        "run `make test-redis5`, or pass --ignore=tests/libraries_redis5")
