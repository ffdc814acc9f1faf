"""huey: RedisHuey whose storage builds the client under test, and a consumer running tasks.

huey's RedisStorage makes its client as `redis_client(connection_pool=...)`,
so a project switches client class with a storage subclass, as here.
"""
from __future__ import annotations

import pytest
from huey import RedisHuey
from huey.exceptions import TaskException
from huey.storage import RedisStorage


def test_enqueue_tasks_and_run_them_with_a_thread_consumer(make_client, real_server, admin):
    class Storage(RedisStorage):
        redis_client = make_client.cls

    huey = RedisHuey("cpipe-test", storage_class=Storage, host="127.0.0.1",
                     port=real_server.port, read_timeout=0.2)
    assert type(huey.storage.conn) is make_client.cls

    @huey.task()
    def add(a, b):
        huey.storage.conn.incr("huey:calls")  # a side effect through huey's client
        return a + b

    @huey.task(retries=0)
    def explode():
        raise RuntimeError("kaboom")

    results = [add(i, i) for i in range(10)]
    failing = explode()
    assert huey.pending_count() == 11

    consumer = huey.create_consumer(workers=2, worker_type="thread", periodic=False,
                                    check_worker_health=False)
    consumer.start()
    try:
        assert [res.get(blocking=True, timeout=15) for res in results] == [2 * i for i in range(10)]
        with pytest.raises(TaskException, match="kaboom"):
            failing.get(blocking=True, timeout=15)
        assert huey.pending_count() == 0
    finally:
        consumer.stop(graceful=True)
        huey.storage.conn.close()
    assert admin.get("huey:calls") == b"10"
