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


async def _aiter(it: Iterator[T]) -> AsyncIterator[T]:
    """Drives a blocking iterator from a thread, one item at a time."""
    done = object()
    while True:
        item = await asyncio.to_thread(next, it, done)
        if item is done:
            return
        yield item  # type: ignore[misc]


__all__ = ["Client", "AsyncClient", "HopperError"]
