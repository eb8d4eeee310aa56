"""The Python SDK's worker as tools/e2e TestSDKWorkers runs it: one kind
(SDK_KIND) whose payload's mode picks what the handler does; it prints
"EV {json}" lines the test reads."""

import json
import logging
import os

from hopper_client import Cancelled, Worker

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
kind = os.environ["SDK_KIND"]
worker = Worker(os.environ["HOPPER_URL"], os.environ["HOPPER_WORKER_TOKEN"],
                concurrency=int(os.environ.get("SDK_CONCURRENCY", "1")),
                lease_seconds=float(os.environ.get("SDK_LEASE", "2")), wait_seconds=1,
                grace_seconds=float(os.environ.get("SDK_GRACE", "10")))


def emit(**ev):
    print("EV " + json.dumps(ev), flush=True)


@worker.kind(kind, schema={"type": "object", "required": ["mode"]}, max_attempts=3,
             backoff_base=0.05, backoff_cap=0.1, timeout=60)
def handle(job):
    mode = job.payload["mode"]
    emit(event="started", id=job.id, attempt=job.attempt, priority=job.priority, mode=mode)
    if mode == "stream":
        job.progress(50, "streaming")
        for chunk in job.payload["chunks"]:
            job.output(chunk)
        job.progress(100, "done")
        return {"chunks": len(job.payload["chunks"])}
    if mode == "block" or (mode == "crash_once" and job.attempt == 1):
        # Until the test cancels the job (seen on a heartbeat) or kills
        # this process.
        if not job.cancel_event.wait(60):
            raise RuntimeError("not cancelled within 60 s")
        emit(event="cancel_seen", id=job.id)
        try:
            job.progress(99, "still running?")
        except Cancelled:
            emit(event="cancel_raised", id=job.id)
            raise
        raise RuntimeError("progress after the cancel did not raise Cancelled")
    if mode == "hold":
        # Until the worker stops and hands the job back (its handler sees
        # cancelled); a worker started with SDK_NO_HOLD runs it at once.
        if os.environ.get("SDK_NO_HOLD") != "1":
            job.cancel_event.wait(60)
            emit(event="handed_back", id=job.id)
            raise RuntimeError("handed back")
        return {"attempt": job.attempt}
    if mode.startswith("wf_"):
        return workflow_step(job, mode)
    return {"attempt": job.attempt, "priority": job.priority}


def workflow_step(job, mode):
    """The steps of the diamond workflow.py and workflow.mjs build: a
    list of numbers, their squares fanned out, a constant, and a fan-in
    summing its parents' results read through the SDK."""
    wf = job.workflow
    emit(event="wf_step", id=job.id, workflow=wf.id, step=wf.step, element=wf.element,
         index=job.payload.get("index"))
    if mode == "wf_numbers":
        return {"numbers": list(range(1, job.payload["n"] + 1))}
    if mode == "wf_square":
        return job.payload["item"] ** 2
    if mode == "wf_const":
        return {"value": job.payload["value"]}
    if mode == "wf_sum":
        parents = job.parent_results()
        squares = job.parent_result("squares")
        return {"sum": sum(squares) + parents["const"]["value"], "parents": sorted(parents), "squares": squares}
    raise ValueError("unknown workflow mode " + mode)


worker.run()
emit(event="stopped")
