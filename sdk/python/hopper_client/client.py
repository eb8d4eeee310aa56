"""The API-key client: submit, read, wait, list, cancel, retry, follow."""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Optional, TypeVar, Union

from ._transport import Transport, quote, query
from .errors import APIError, HopperError, TransportError
from .models import Accepted, Job, JobEvent, JobPage, OutputChunk, OutputText, TERMINAL_STATES
from .workflow import (StepRetried, Workflow, WorkflowAccepted, WorkflowCancelled, WorkflowEvent, WorkflowInfo,
                       WorkflowPage)

T = TypeVar("T")

# Reconnects of a followed stream that broke, before giving up.
_MAX_RECONNECTS = 10


def _submit_body(kind: str, payload: Optional[Dict[str, Any]] = None, *, priority: Union[str, int, None] = None,
                 run_at: Optional[str] = None, max_attempts: Optional[int] = None,
                 timeout: Union[str, float, None] = None, webhook_url: Optional[str] = None) -> Dict[str, Any]:
    body: Dict[str, Any] = {"kind": kind, "payload": payload if payload is not None else {}}
    for k, v in (("priority", priority), ("run_at", run_at), ("max_attempts", max_attempts),
                 ("timeout", timeout), ("webhook_url", webhook_url)):
        if v is not None:
            body[k] = v
    return body


class Client:
    """A client of the gateway's job API, authenticated by an API key.

    >>> c = Client("http://127.0.0.1:8080", api_key)
    >>> job = c.wait(c.submit("system.sleep", {"ms": 200}).id)
    """

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 30.0) -> None:
        self._t = Transport(base_url or os.environ.get("HOPPER_URL", "http://127.0.0.1:8080"),
                            api_key or os.environ.get("HOPPER_API_KEY", ""), timeout)

    def submit(self, kind: str, payload: Optional[Dict[str, Any]] = None, *, priority: Union[str, int, None] = None,
               run_at: Optional[str] = None, max_attempts: Optional[int] = None,
               timeout: Union[str, float, None] = None, webhook_url: Optional[str] = None,
               idempotency_key: Optional[str] = None) -> Accepted:
        """Submits one job (priority "low", "normal", "high" or 0-5;
        timeout "90s" or seconds). The same idempotency_key returns the
        same job."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = _submit_body(kind, payload, priority=priority, run_at=run_at, max_attempts=max_attempts,
                            timeout=timeout, webhook_url=webhook_url)
        _, out = self._t.call("POST", "/v1/jobs", body, headers=headers)
        return Accepted.from_dict(out)

    def submit_batch(self, jobs: List[Dict[str, Any]]) -> List[Accepted]:
        """Submits up to 1,000 jobs, all or none: each a dict of submit's
        fields ({"kind", "payload", "priority", …})."""
        _, out = self._t.call("POST", "/v1/jobs/batch", {"jobs": [_submit_body(**j) for j in jobs]})
        return [Accepted.from_dict(a) for a in out["jobs"]]

    def get(self, job_id: str) -> Job:
        """The job with its timeline."""
        _, out = self._t.call("GET", "/v1/jobs/" + quote(job_id))
        return Job.from_dict(out)

    def list(self, *, state: Optional[str] = None, kind: Optional[str] = None, limit: Optional[int] = None,
             cursor: Optional[str] = None) -> JobPage:
        """A page of your jobs, newest first (state: comma-separated)."""
        _, out = self._t.call("GET", "/v1/jobs" + query({"state": state, "kind": kind, "limit": limit, "cursor": cursor}))
        return JobPage(jobs=[Job.from_dict(j) for j in out.get("jobs") or []], next_cursor=out.get("next_cursor"))

    def cancel(self, job_id: str) -> Job:
        """Cancels a waiting job at once; a running one is flagged and
        its handler told (state stays running until it stops)."""
        _, out = self._t.call("DELETE", "/v1/jobs/" + quote(job_id))
        return Job.from_dict(out)

    def retry(self, job_id: str) -> Job:
        """Runs a failed or cancelled job again."""
        _, out = self._t.call("POST", "/v1/jobs/" + quote(job_id) + "/retry")
        return Job.from_dict(out)

    def wait(self, job_id: str, timeout: Optional[float] = None) -> Job:
        """Follows the job's events until it ends and returns it. Raises
        TimeoutError after timeout seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.terminal:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout}s")
            try:
                for ev in self.events(job_id):
                    if ev.state in TERMINAL_STATES:
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            except TransportError:
                time.sleep(0.2)

    def events(self, job_id: str, last_event_id: Optional[str] = None) -> Iterator[JobEvent]:
        """Follows the job's events (timeline and progress) live until its
        terminal event. A broken connection is resumed with Last-Event-ID,
        so no timeline event is lost or repeated."""
        def messages(last: Optional[str]) -> Iterator[Any]:
            return self._t.stream("/v1/jobs/" + quote(job_id) + "/events", last)
        for msg in _resume(messages, last_event_id, end=lambda m: m.event in TERMINAL_STATES,
                           closed_done=lambda: self.get(job_id).terminal):
            yield JobEvent.from_sse(msg.event, msg.data, msg.id)

    def output(self, job_id: str, last_event_id: Optional[str] = None) -> Iterator[OutputChunk]:
        """Follows the job's output chunks in order until the job ended and
        all were sent; a broken connection resumes after the last chunk."""
        def messages(last: Optional[str]) -> Iterator[Any]:
            return self._t.stream("/v1/jobs/" + quote(job_id) + "/output", last)
        for msg in _resume(messages, last_event_id, end=lambda m: m.event == "end"):
            if msg.event == "output":
                d = json.loads(msg.data)
                yield OutputChunk(seq=d["seq"], attempt=d["attempt"], text=d["text"])

    def output_text(self, job_id: str) -> OutputText:
        """The job's whole output so far (the last attempt's)."""
        _, out = self._t.call("GET", "/v1/jobs/" + quote(job_id) + "/output?format=text")
        return OutputText(job_id=out["job_id"], state=out["state"], attempt=out.get("attempt", 0),
                          text=out.get("text", ""), last_seq=out.get("last_seq", 0))

    # Workflows: see the README's Workflows section and hopper_client.Workflow.

    def submit_workflow(self, workflow: Union[Workflow, Dict[str, Any]], *,
                        idempotency_key: Optional[str] = None) -> WorkflowAccepted:
        """Submits a workflow (a Workflow builder, checked by its build(),
        or a request body as a dict); its root steps' jobs are queued when
        it returns. A graph the gateway refuses (a cycle, an unknown kind,
        a payload its kind's schema refuses) raises APIError 422 naming
        the field, e.g. steps[2].payload.board. The same idempotency key
        (here or the builder's) answers the workflow it created."""
        body = workflow.build() if isinstance(workflow, Workflow) else dict(workflow)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        _, out = self._t.call("POST", "/v1/workflows", body, headers=headers)
        return WorkflowAccepted.from_dict(out)

    def get_workflow(self, workflow_id: str) -> WorkflowInfo:
        """The workflow: its state, every step's state, jobs and (once
        succeeded) result, and its timeline."""
        _, out = self._t.call("GET", "/v1/workflows/" + quote(workflow_id))
        return WorkflowInfo.from_dict(out)

    def list_workflows(self, *, state: Optional[str] = None, limit: Optional[int] = None,
                       cursor: Optional[str] = None) -> WorkflowPage:
        """A page of your workflows, newest first (state: comma-separated)."""
        _, out = self._t.call("GET", "/v1/workflows" + query({"state": state, "limit": limit, "cursor": cursor}))
        return WorkflowPage(workflows=[WorkflowInfo.from_dict(w) for w in out.get("workflows") or []],
                            next_cursor=out.get("next_cursor"))

    def cancel_workflow(self, workflow_id: str) -> WorkflowCancelled:
        """Cancels the steps waiting and queued at once, and running ones
        through their workers."""
        _, out = self._t.call("POST", "/v1/workflows/" + quote(workflow_id) + "/cancel")
        return WorkflowCancelled(workflow=WorkflowInfo.from_dict(out["workflow"]),
                                 cancelled_jobs=out.get("cancelled_jobs", 0), stopping_jobs=out.get("stopping_jobs", 0))

    def retry_step(self, workflow_id: str, step: str) -> StepRetried:
        """Runs a failed (or cancelled) step again and resumes the
        workflow: the steps its failure stopped wait again."""
        _, out = self._t.call("POST", "/v1/workflows/" + quote(workflow_id) + "/steps/" + quote(step) + "/retry")
        return StepRetried(workflow=WorkflowInfo.from_dict(out["workflow"]), jobs=list(out.get("jobs") or []))

    def workflow_events(self, workflow_id: str) -> Iterator[WorkflowEvent]:
        """Follows the workflow live until it is over: a snapshot first,
        then each step's change and the workflow's state changes, the
        last one terminal. A broken connection is reopened and starts
        with a fresh snapshot: treat a snapshot as "this is everything
        now"."""
        path = "/v1/workflows/" + quote(workflow_id) + "/events"
        for msg in _resume(lambda _last: self._t.stream(path), None, end=_workflow_over):
            ev = WorkflowEvent.from_sse(msg.event, msg.data)
            if ev is not None:  # else a newer gateway's message
                yield ev

    def wait_workflow(self, workflow_id: str, timeout: Optional[float] = None) -> WorkflowInfo:
        """Follows the workflow's events until it is over and returns it.
        Raises TimeoutError after timeout seconds (None: no limit; checked
        at each event)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wf = self.get_workflow(workflow_id)
            if wf.terminal:
                return wf
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {workflow_id} still {wf.state} after {timeout}s")
            try:
                for ev in self.workflow_events(workflow_id):
                    if ev.terminal or (deadline is not None and time.monotonic() >= deadline):
                        break
            except TransportError:
                time.sleep(0.2)


def _workflow_over(m: Any) -> bool:
    """Whether a workflow stream's message is its last: a terminal
    snapshot or workflow state (a step event's workflow_state may turn
    terminal first; the workflow event follows it)."""
    if m.event not in ("snapshot", "workflow"):
        return False
    try:
        return json.loads(m.data).get("state") in TERMINAL_STATES
    except (ValueError, AttributeError):
        return False


def _resume(open_stream: Callable[[Optional[str]], Iterator[Any]], last: Optional[str],
            end: Callable[[Any], bool], closed_done: Optional[Callable[[], bool]] = None) -> Iterator[Any]:
    """Yields a stream's messages, reconnecting with Last-Event-ID when it
    breaks or closes before a message for which end is true; closed_done
    tells whether a stream the server closed had nothing more to send."""
    failures = 0
    while True:
        try:
            for msg in open_stream(last):
                failures = 0
                if msg.id:
                    last = msg.id
                yield msg
                if end(msg):
                    return
            # The server closed before the end (it restarts, say): resume,
            # unless there is nothing more to come.
            if closed_done is not None and closed_done():
                return
            raise TransportError("the stream closed before its end")
        except TransportError:
            failures += 1
            if failures > _MAX_RECONNECTS:
                raise
            time.sleep(min(0.1 * 2 ** failures, 5.0))
        except APIError as e:
            if not e.retryable or failures >= _MAX_RECONNECTS:
                raise
            failures += 1
            time.sleep(e.retry_after or min(0.1 * 2 ** failures, 5.0))


class AsyncClient:
    """Client for asyncio: the same methods as coroutines, events and
    output as async iterators (each request runs in a thread)."""

    def __init__(self, base_url: Optional[str] = None, api_key: Optional[str] = None, *, timeout: float = 30.0) -> None:
        self.sync = Client(base_url, api_key, timeout=timeout)

    async def submit(self, kind: str, payload: Optional[Dict[str, Any]] = None, **opts: Any) -> Accepted:
        return await asyncio.to_thread(self.sync.submit, kind, payload, **opts)

    async def submit_batch(self, jobs: List[Dict[str, Any]]) -> List[Accepted]:
        return await asyncio.to_thread(self.sync.submit_batch, jobs)

    async def get(self, job_id: str) -> Job:
        return await asyncio.to_thread(self.sync.get, job_id)

    async def list(self, **filters: Any) -> JobPage:
        return await asyncio.to_thread(self.sync.list, **filters)

    async def cancel(self, job_id: str) -> Job:
        return await asyncio.to_thread(self.sync.cancel, job_id)

    async def retry(self, job_id: str) -> Job:
        return await asyncio.to_thread(self.sync.retry, job_id)

    async def wait(self, job_id: str, timeout: Optional[float] = None) -> Job:
        return await asyncio.to_thread(self.sync.wait, job_id, timeout)

    async def output_text(self, job_id: str) -> OutputText:
        return await asyncio.to_thread(self.sync.output_text, job_id)

    def events(self, job_id: str, last_event_id: Optional[str] = None) -> AsyncIterator[JobEvent]:
        return _aiter(self.sync.events(job_id, last_event_id))

    def output(self, job_id: str, last_event_id: Optional[str] = None) -> AsyncIterator[OutputChunk]:
        return _aiter(self.sync.output(job_id, last_event_id))

    async def submit_workflow(self, workflow: Union[Workflow, Dict[str, Any]], *,
                              idempotency_key: Optional[str] = None) -> WorkflowAccepted:
        return await asyncio.to_thread(self.sync.submit_workflow, workflow, idempotency_key=idempotency_key)

    async def get_workflow(self, workflow_id: str) -> WorkflowInfo:
        return await asyncio.to_thread(self.sync.get_workflow, workflow_id)

    async def list_workflows(self, **filters: Any) -> WorkflowPage:
        return await asyncio.to_thread(self.sync.list_workflows, **filters)

    async def cancel_workflow(self, workflow_id: str) -> WorkflowCancelled:
        return await asyncio.to_thread(self.sync.cancel_workflow, workflow_id)

    async def retry_step(self, workflow_id: str, step: str) -> StepRetried:
        return await asyncio.to_thread(self.sync.retry_step, workflow_id, step)

    async def wait_workflow(self, workflow_id: str, timeout: Optional[float] = None) -> WorkflowInfo:
        return await asyncio.to_thread(self.sync.wait_workflow, workflow_id, timeout)

    def workflow_events(self, workflow_id: str) -> AsyncIterator[WorkflowEvent]:
        return _aiter(self.sync.workflow_events(workflow_id))


async def _aiter(it: Iterator[T]) -> AsyncIterator[T]:
    """Drives a blocking iterator from a thread, one item at a time."""
    done = object()
    while True:
        item = await asyncio.to_thread(next, it, done)
        if item is done:
            return
        yield item  # type: ignore[misc]


__all__ = ["Client", "AsyncClient", "HopperError"]
