"""Log lines carry their own invocation's keys, even when handlers run side by side (as the
local stack runs them, in threads of one process)."""

import io
import json
import threading

from chalicelib.observability import invocation, logger


def test_concurrent_invocations_never_label_lines_with_each_others_job():
    barrier = threading.Barrier(2)
    out = io.StringIO()
    previous = logger.registered_handler.setStream(out)
    level = logger.log_level
    logger.setLevel("INFO")  # whatever an earlier test in this process left it at

    def handle(event_id: str, job_id: str) -> None:
        with invocation(event_id):
            logger.thread_safe_append_keys(job_id=job_id)
            barrier.wait()  # both have set their keys before either logs
            logger.info("step")
            barrier.wait()

    threads = [threading.Thread(target=handle, args=(f"event-{n}", f"job-{n}")) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logger.registered_handler.setStream(previous)
    logger.setLevel(level)

    lines = [json.loads(line) for line in out.getvalue().splitlines() if line]
    pairs = {(line["event_id"], line["job_id"]) for line in lines if line["message"] == "step"}
    assert pairs == {("event-0", "job-0"), ("event-1", "job-1")}
