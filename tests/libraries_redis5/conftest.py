"""The client fixtures of tests/libraries (see there), for libraries that need redis-py < 6."""
from tests.libraries.conftest import (  # noqa: F401 - pytest finds fixtures by name
    admin,
    make_async_client,
    make_client,
    redis_py_connections,
)
