"""rq: a queue and an in-process worker on the client we hand them."""
from __future__ import annotations

from rq import Queue, SimpleWorker
from rq.job import JobStatus

from tests.libraries import _jobs


def test_enqueue_and_run_jobs_with_a_burst_worker(make_client):
    r = make_client()
    queue = Queue("cpipe-test", connection=r)
    assert queue.connection is r

    ok = queue.enqueue(_jobs.add, 2, 3)
    bad = queue.enqueue(_jobs.fail, "boom")
    later = queue.enqueue(_jobs.add, 10, 20, depends_on=ok)
    assert queue.count == 2  # `later` waits for `ok` in the deferred registry

    worker = SimpleWorker([queue], connection=r)
    assert worker.connection is r
    assert worker.work(burst=True) is True

    ok.refresh()
    assert ok.get_status() == JobStatus.FINISHED
    assert ok.return_value() == 5
    later.refresh()
    assert later.get_status() == JobStatus.FINISHED
    assert later.return_value() == 30
    bad.refresh()
    assert bad.get_status() == JobStatus.FAILED
    assert "ValueError: boom" in bad.latest_result().exc_string
    assert queue.failed_job_registry.get_job_ids() == [bad.id]
    assert queue.finished_job_registry.count == 2
    assert queue.count == 0
