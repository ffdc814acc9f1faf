"""dramatiq: RedisBroker(client=ours), actors sent and run by an in-process worker."""
from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend


def test_send_messages_and_run_them_on_worker_threads(make_client, admin):
    r = make_client()
    broker = RedisBroker(client=r, namespace="cpipe-test")
    assert broker.client is r
    # Results stored through the same client: a second user of it.
    results = RedisBackend(client=r, namespace="cpipe-test-results")
    assert results.client is r
    broker.add_middleware(Results(backend=results))

    @dramatiq.actor(broker=broker, store_results=True, max_retries=0)
    def multiply(a, b):
        # A side effect of the worker's own, on the same connection.
        r.incrby("dramatiq:calls", 1)
        return a * b

    messages = [multiply.send(i, 3) for i in range(20)]
    worker = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        broker.join(multiply.queue_name, timeout=30_000)
        worker.join()
        got = [m.get_result(backend=results, block=True, timeout=10_000) for m in messages]
    finally:
        worker.stop()
        broker.close()
    assert got == [i * 3 for i in range(20)]
    assert admin.get("dramatiq:calls") == b"20"
