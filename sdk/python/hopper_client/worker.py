"""A pull-protocol worker: runs your handlers for catalogue kinds with a
worker token, over HTTP through the gateway (no database or broker)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._transport import Transport, query, quote
from .errors import APIError, Cancelled, LeaseLost, Permanent, RetryAfter, TransportError

log = logging.getLogger("hopper_client.worker")

# A chunk is at most 16 KiB and a call carries at most 256 chunks
# (the gateway's bounds); output is sent at most every 20 ms per job.
MAX_CHUNK_BYTES = 16 * 1024
MAX_BATCH = 256
FLUSH_EVERY = 0.02

Handler = Callable[["ClaimedJob"], Any]


@dataclass
class KindSpec:
    """A kind this worker runs, as POST /v1/worker/kinds registers it.
    Durations in seconds; None leaves the gateway's default."""

    name: str
    queue: Optional[str] = None  # default: the name's prefix before "."
    description: str = ""
    schema: Optional[Dict[str, Any]] = None  # the payload's JSON Schema
    timeout: Optional[float] = None
    max_timeout: Optional[float] = None
    max_attempts: Optional[int] = None
    backoff_base: Optional[float] = None
    backoff_cap: Optional[float] = None
    default_priority: Optional[int] = None
    version: Optional[str] = None
    visibility: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"name": self.name}
        for key, value in (("queue", self.queue), ("description", self.description), ("payload_schema", self.schema),
                           ("timeout_seconds", self.timeout), ("max_timeout_seconds", self.max_timeout),
                           ("max_attempts", self.max_attempts), ("backoff_base_seconds", self.backoff_base),
                           ("backoff_cap_seconds", self.backoff_cap), ("default_priority", self.default_priority),
                           ("version", self.version), ("visibility", self.visibility)):
            if value:
                d[key] = value
        return d


def _split(text: str) -> List[str]:
    """Cuts text into chunks of at most MAX_CHUNK_BYTES UTF-8 bytes on
    character boundaries."""
    if len(text.encode("utf-8")) <= MAX_CHUNK_BYTES:
        return [text] if text else []
    out, cur, size = [], [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > MAX_CHUNK_BYTES:
            out.append("".join(cur))
            cur, size = [], 0
        cur.append(ch)
        size += n
    if cur:
        out.append("".join(cur))
    return out



@dataclass
class WorkflowRef:
    """The workflow step a claimed job runs."""

    id: str
    step: str
    element: Optional[int] = None  # the job's position in a fan-out step (its payload's "index")


def instance_name(name: str) -> str:
    """Makes name a valid Hopper-Worker-Instance: 1-64 of A-Za-z0-9._:@-."""
    return (re.sub(r"[^A-Za-z0-9._:@-]", "-", name)[:64]) or "worker"

class ClaimedJob:
    """A job this worker claimed, handed to its handler: its payload, and
    progress, output and cancellation."""

    def __init__(self, worker: "Worker", d: Dict[str, Any]) -> None:
        self._w = worker
        self.id: str = d["id"]
        self.kind: str = d["kind"]
        self.queue: str = d.get("queue", "")
        self.attempt: int = d["attempt"]
        self.max_attempts: int = d.get("max_attempts", 0)
        self.priority: int = d.get("priority", 0)
        self.payload: Any = d.get("payload")
        self.timeout_seconds: float = d.get("timeout_seconds", 0)
        self.lease_seconds: float = d.get("lease_seconds", worker.lease_seconds)
        wf = d.get("workflow")
        # Set when the job runs a workflow's step: see parent_results.
        self.workflow: Optional[WorkflowRef] = (
            WorkflowRef(id=wf["id"], step=wf["step"], element=wf.get("element")) if wf else None)
        self.cancel_event = threading.Event()  # set once a cancel was requested (or the lease lost)
        self._lost = threading.Event()
        self._done = threading.Event()
        self._pending: List[str] = []
        self._lock = threading.Lock()  # guards _pending, _timer, _last_flush, _error
        self._send = threading.Lock()  # one output call at a time, in order
        self._timer: Optional[threading.Timer] = None
        self._last_flush = 0.0
        self._error: Optional[Exception] = None

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled (seen on a heartbeat, progress
        or output answer) or the attempt lost: stop and return or raise."""
        return self.cancel_event.is_set()

    @property
    def lease_lost(self) -> bool:
        return self._lost.is_set()

    def _check(self) -> None:
        if self._lost.is_set():
            raise LeaseLost(f"job {self.id} attempt {self.attempt} is no longer this worker's")
        if self.cancel_event.is_set():
            raise Cancelled(f"job {self.id} was cancelled")

    def _path(self, op: str) -> str:
        return "/v1/worker/jobs/" + quote(self.id) + "/" + op

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        """A call about this job, transient failures retried briefly; a
        404/409 marks the attempt lost."""
        try:
            return self._w._retrying(lambda: self._w._t.call(method, path, body)[1], self.lease_seconds / 2)
        except APIError as e:
            if e.status in (404, 409):
                self._lost.set()
                self.cancel_event.set()
                raise LeaseLost(f"job {self.id} attempt {self.attempt}: {e.message}") from None
            raise

    def _call(self, op: str, body: Dict[str, Any]) -> Dict[str, Any]:
        """A job call; a 404/409 marks the attempt lost, a cancel_requested
        answer marks it cancelled. Transient failures are retried briefly."""
        body = dict(body, attempt=self.attempt)
        out = self._request("POST", self._path(op), body) or {}
        if out.get("cancel_requested"):
            self.cancel_event.set()
        return out

    def parent_results(self, step: Optional[str] = None) -> Dict[str, Any]:
        """The results of the parents of the workflow step this job runs,
        by step name: a parent's result as its handler returned it, a
        fan-out parent's the list of its elements' results in order. Read
        from the parents' jobs when called (GET
        /v1/worker/jobs/{id}/parents), never copied into this job; {} for
        a job outside a workflow. step reads only that parent (for results
        too large to read at once: the gateway answers 422 past 8 MiB).
        Raises LeaseLost once the attempt is no longer this worker's."""
        if self.workflow is None:
            return {}
        out = self._request("GET", self._path("parents") + query({"attempt": self.attempt, "step": step}))
        return dict((out or {}).get("parents") or {})

    def parent_result(self, step: str) -> Any:
        """The result of parent step (see parent_results); KeyError when
        step is not a parent that succeeded."""
        results = self.parent_results(step)
        if step not in results:
            raise KeyError(f"step {step!r} is not a parent of {self.workflow.step if self.workflow else 'this job'} "
                           "with a result")
        return results[step]

    def progress(self, percent: int, message: str = "") -> None:
        """Reports progress (0-100) and a status message; also renews the
        lease. Raises Cancelled once the job was cancelled, LeaseLost once
        the attempt is no longer this worker's."""
        self._check()
        self._call("progress", {"progress": int(percent), "message": message[:1024],
                                "lease_seconds": self.lease_seconds})
        self._check()

    def heartbeat(self) -> None:
        """Renews the lease now (the worker does it every lease/3 by
        itself); raises like progress."""
        self._check()
        self._call("heartbeat", {"lease_seconds": self.lease_seconds})
        self._check()

    def output(self, text: str) -> None:
        """Appends text to the job's output stream. Chunks written within
        20 ms go out in one call, in order; raises Cancelled or LeaseLost
        (also for an earlier batch sent in the background)."""
        self._check()
        with self._lock:
            if self._error is not None:
                raise self._error
            self._pending.extend(_split(text))
            wait = self._last_flush + FLUSH_EVERY - time.monotonic()
            if wait > 0 and len(self._pending) < MAX_BATCH:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._flush_later)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def _flush_later(self) -> None:
        try:
            self.flush()
        except Exception as e:  # raised to the handler on its next output call
            with self._lock:
                self._error = e

    def flush(self) -> None:
        """Sends the output written so far (the worker flushes before it
        finishes the job)."""
        with self._send:
            while True:
                with self._lock:
                    if self._timer is not None:
                        self._timer.cancel()
                        self._timer = None
                    batch = self._pending[:MAX_BATCH]
                    del self._pending[:MAX_BATCH]
                    self._last_flush = time.monotonic()
                if not batch:
                    return
                if self._lost.is_set():
                    raise LeaseLost(f"job {self.id} attempt {self.attempt} is no longer this worker's")
                self._call("output", {"chunks": batch})

    def _heartbeats(self) -> None:
        """Renews the lease every lease/3 until the handler returns;
        marks the job cancelled or lost as the answers say."""
        interval = max(self.lease_seconds / 3, 0.5)
        while not self._done.wait(interval):
            try:
                self._call("heartbeat", {"lease_seconds": self.lease_seconds})
                interval = max(self.lease_seconds / 3, 0.5)
            except LeaseLost:
                log.warning("lease lost", extra={"job_id": self.id, "attempt": self.attempt})
                return
            except Exception as e:  # transient: try again sooner
                log.warning("heartbeat failed: %s", e, extra={"job_id": self.id})
                interval = 1.0


class Worker:
    """Runs handlers for kinds with a worker token (POST
    /v1/admin/worker-tokens or `hopperctl worker-tokens create`).

    >>> worker = Worker("http://127.0.0.1:8080", token, concurrency=4)
    >>> @worker.kind("media.echo", schema={"type": "object"})
    ... def echo(job):
    ...     job.progress(50, "halfway")
    ...     job.output("hello")
    ...     return {"echo": job.payload}
    >>> worker.run()  # until SIGTERM or SIGINT
    """

    def __init__(self, base_url: Optional[str] = None, token: Optional[str] = None, *, concurrency: int = 1,
                 queues: Optional[List[str]] = None, lease_seconds: float = 30.0, wait_seconds: float = 5.0,
                 grace_seconds: float = 30.0, instance: Optional[str] = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not 2 <= lease_seconds <= 600:
            raise ValueError("lease_seconds must be 2 to 600")
        # The instance names this process in GET /v1/workers (each
        # process its own row, not one per token).
        self.instance = instance_name(instance or f"{socket.gethostname()}-{os.getpid()}")
        self._t = Transport(base_url or os.environ.get("HOPPER_URL", "http://127.0.0.1:8080"),
                            token or os.environ.get("HOPPER_WORKER_TOKEN", ""),
                            headers={"Hopper-Worker-Instance": self.instance})
        self.concurrency = concurrency
        self.queues = queues
        self.lease_seconds = lease_seconds
        self.wait_seconds = min(max(wait_seconds, 0.0), 30.0)
        self.grace_seconds = grace_seconds
        self._kinds: Dict[str, Tuple[KindSpec, Handler]] = {}
        self._stopping = threading.Event()
        self._running: Dict[str, ClaimedJob] = {}
        self._running_lock = threading.Lock()

    def kind(self, name: str, **spec: Any) -> Callable[[Handler], Handler]:
        """Decorator registering the function as the handler of kind name;
        spec takes KindSpec's fields (schema, timeout, max_attempts, …)."""
        def register(fn: Handler) -> Handler:
            self.register(name, fn, **spec)
            return fn
        return register

    def register(self, name: str, fn: Handler, **spec: Any) -> None:
        """Registers fn (sync or async) as the handler of kind name."""
        self._kinds[name] = (KindSpec(name=name, **spec), fn)

    def stop(self) -> None:
        """Stops claiming; running jobs finish within grace_seconds."""
        self._stopping.set()

    def run(self, install_signals: bool = True) -> None:
        """Registers the kinds, then claims and runs jobs with
        `concurrency` slots until stop() (or SIGTERM/SIGINT): then stops
        claiming, lets running jobs finish within grace_seconds, and
        hands the rest back uncharged."""
        if not self._kinds:
            raise ValueError("no kinds registered: use @worker.kind or worker.register")
        restore = {}
        if install_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                restore[sig] = signal.signal(sig, lambda *_: self.stop())
        try:
            self._register_kinds()
            slots = [threading.Thread(target=self._slot, name=f"hopper-slot-{i}", daemon=True)
                     for i in range(self.concurrency)]
            for s in slots:
                s.start()
            log.info("worker started: kinds %s, concurrency %d", sorted(self._kinds), self.concurrency)
            while not self._stopping.wait(0.5):
                pass
            log.info("stopping: no new claims; waiting up to %ss for running jobs", self.grace_seconds)
            deadline = time.monotonic() + self.grace_seconds
            for s in slots:
                s.join(max(0.0, deadline - time.monotonic()))
            self._abandon()
        finally:
            for sig, handler in restore.items():
                signal.signal(sig, handler)

    async def run_async(self) -> None:
        """run() for asyncio programs: the loop's SIGTERM/SIGINT stop it."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError):
                pass
        await asyncio.to_thread(self.run, False)

    def _register_kinds(self) -> None:
        body = {"kinds": [spec.to_dict() for spec, _ in self._kinds.values()]}
        self._retrying(lambda: self._t.call("POST", "/v1/worker/kinds", body), 60.0)

    def _retrying(self, fn: Callable[[], Any], budget: float) -> Any:
        """Calls fn, retrying transport failures, 429 and 5xx with backoff
        for up to budget seconds."""
        deadline = time.monotonic() + budget
        delay = 0.1
        while True:
            try:
                return fn()
            except (TransportError, APIError) as e:
                if isinstance(e, APIError) and not e.retryable:
                    raise
                wait = (e.retry_after if isinstance(e, APIError) and e.retry_after else delay) * (0.5 + random.random())
                if time.monotonic() + wait > deadline:
                    raise
                time.sleep(wait)
                delay = min(delay * 2, 5.0)

    def _slot(self) -> None:
        delay = 0.2
        body: Dict[str, Any] = {"wait_seconds": self.wait_seconds, "lease_seconds": self.lease_seconds}
        if self.queues:
            body["queues"] = self.queues
        while not self._stopping.is_set():
            try:
                status, out = self._t.call("POST", "/v1/worker/claim", body, timeout=self.wait_seconds + 15)
                delay = 0.2
            except (TransportError, APIError) as e:
                if isinstance(e, APIError) and e.status in (401, 403):
                    log.error("claim refused: %s; stopping", e)
                    self.stop()
                    return
                wait = e.retry_after if isinstance(e, APIError) and e.retry_after else delay
                log.warning("claim failed: %s; again in %.1fs", e, wait)
                self._stopping.wait(wait)
                delay = min(delay * 2, 10.0)
                continue
            if status == 200 and out and out.get("job"):
                self._run(ClaimedJob(self, out["job"]))

    def _run(self, job: ClaimedJob) -> None:
        with self._running_lock:
            self._running[job.id] = job
        hb = threading.Thread(target=job._heartbeats, name=f"hopper-heartbeat-{job.id}", daemon=True)
        hb.start()
        try:
            op, body = self._handle(job)
        finally:
            job._done.set()
        try:
            try:
                job.flush()  # what the handler wrote, before the outcome
            except LeaseLost:
                raise
            except Exception as e:
                log.warning("sending the last output of job %s failed: %s", job.id, e)
            state = job._call(op, body).get("state")
            log.info("job finished", extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempt, "state": state})
        except LeaseLost:
            log.warning("attempt lost before it finished; its outcome is dropped",
                        extra={"job_id": job.id, "attempt": job.attempt})
        except Exception as e:
            log.error("finishing job %s failed: %s (its lease will expire and it runs again)", job.id, e)
        finally:
            with self._running_lock:
                self._running.pop(job.id, None)

    def _handle(self, job: ClaimedJob) -> Tuple[str, Dict[str, Any]]:
        """Runs the handler and maps its outcome to a finish call."""
        entry = self._kinds.get(job.kind)
        if entry is None:
            return "retry", {"error": f"this worker has no handler for kind {job.kind}"}
        fn = entry[1]
        try:
            result = asyncio.run(fn(job)) if inspect.iscoroutinefunction(fn) else fn(job)
            try:
                json.dumps(result)
            except (TypeError, ValueError) as e:
                return "fail", {"error": f"the handler's result is not JSON: {e}"}
            if job.cancelled:
                return "fail", {"error": "cancelled"}
            return "succeed", {"result": result}
        except Permanent as e:
            return "fail", {"error": str(e) or "failed"}
        except RetryAfter as e:
            return "retry", {"error": str(e), "after_seconds": max(0.0, float(e.seconds))}
        except (Cancelled, LeaseLost) as e:
            return "fail", {"error": str(e) or "cancelled"}
        except Exception as e:
            log.exception("handler of %s failed", job.kind, extra={"job_id": job.id})
            return "retry", {"error": f"{type(e).__name__}: {e}"[:4000]}

    def _abandon(self) -> None:
        """Hands jobs still running after the grace period back,
        uncharged (release: another claim runs the same attempt); their
        handlers see cancelled."""
        with self._running_lock:
            left = list(self._running.values())
        for job in left:
            # Released first, then cancelled: a handler woken by the
            # cancel would report its own outcome (a retry) first.
            try:
                job._call("release", {})
            except Exception as e:
                log.warning("could not hand job %s back: %s (its lease will expire)", job.id, e)
            job.cancel_event.set()
