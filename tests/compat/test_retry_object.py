"""get_retry()/set_retry() mean for cpipe what they mean for redis-py: the
Retry that commands run under (redis-py's own test_retry.py checks the
same through the connection kwargs, which cpipe's commands never read)."""
from __future__ import annotations

import pytest
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry

import cpipe
from tests._servers import start_reference_server


@pytest.fixture(scope="module")
def faulty_server():
    srv = start_reference_server("--enable-faults")
    yield srv
    srv.stop()


class CountingRetry(Retry):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def call_with_retry(self, do, fail, *args, **kwargs):
        self.calls += 1
        return super().call_with_retry(do, fail, *args, **kwargs)


def test_get_retry_is_the_one_given(faulty_server):
    retry = Retry(NoBackoff(), 2)
    with cpipe.Redis(port=faulty_server.port, retry=retry) as c:
        assert c.get_retry() is retry
    with cpipe.Redis(port=faulty_server.port) as plain:
        assert plain.get_retry() is None  # cpipe does not retry unless asked


def test_a_client_made_from_the_pool_keeps_the_retry(faulty_server):
    """redis-py's client() (a single-connection client on the same pool), as
    redis-py's test fixtures make every client."""
    retry = CountingRetry(NoBackoff(), 2)
    with cpipe.Redis(port=faulty_server.port, retry=retry) as c:
        single = c.client()
        try:
            assert single.get_retry() is retry
            assert single.set("k", "v") is True
            single.execute_command("CPIPE.FAULT", "CLOSE-AFTER", "0")
            assert single.get("k") == b"v"
            assert retry.calls == 1
        finally:
            single.close()


def test_set_retry_applies_to_later_commands(faulty_server):
    c = cpipe.Redis(port=faulty_server.port)
    try:
        assert c.set("k", "v") is True
        retry = CountingRetry(NoBackoff(), 2)
        c.set_retry(retry)
        assert c.get_retry() is retry
        assert c.connection_pool.connection_kwargs["retry"] is retry  # as redis-py's pool
        c.execute_command("CPIPE.FAULT", "CLOSE-AFTER", "0")
        assert c.get("k") == b"v"  # failed once, then retried on a new connection
        assert retry.calls == 1
        replaced = Retry(ExponentialBackoff(), 3)
        c.set_retry(replaced)
        assert c.get_retry() is replaced
    finally:
        c.close()

