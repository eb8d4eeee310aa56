"""Typed views of the API's JSON (unknown fields are kept in .raw)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass
class Accepted:
    """A submitted job: POST /v1/jobs's answer."""

    id: str
    state: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Accepted":
        return cls(id=d["id"], state=d.get("state", ""), raw=d)


@dataclass
class TimelineEvent:
    """One entry of a job's timeline."""

    type: str
    state: str
    attempt: int
    at: str
    message: Optional[str] = None


@dataclass
class Job:
    """A job as GET /v1/jobs/{id} shows it."""

    id: str
    kind: str
    state: str
    queue: str = ""
    priority: int = 0
    progress: int = 0
    status_message: str = ""
    payload: Any = None
    result: Any = None
    error: Optional[str] = None
    attempts: int = 0
    max_attempts: int = 0
    cancel_requested: bool = False
    created_at: str = ""
    started_at: Optional[str] = None
    finished_at: Optional[str] = None
    events: List[TimelineEvent] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def terminal(self) -> bool:
        """Succeeded, failed or cancelled: the job will not change again
        (unless retried)."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Job":
        return cls(
            id=d["id"], kind=d.get("kind", ""), state=d.get("state", ""), queue=d.get("queue", ""),
            priority=d.get("priority", 0), progress=d.get("progress", 0),
            status_message=d.get("status_message", "") or "", payload=d.get("payload"), result=d.get("result"),
            error=d.get("error"), attempts=d.get("attempts", 0), max_attempts=d.get("max_attempts", 0),
            cancel_requested=bool(d.get("cancel_requested", False)), created_at=d.get("created_at", ""),
            started_at=d.get("started_at"), finished_at=d.get("finished_at"),
            events=[TimelineEvent(type=e.get("type", ""), state=e.get("state", ""), attempt=e.get("attempt", 0),
                                  at=e.get("at", ""), message=e.get("message")) for e in d.get("events") or []],
            raw=d,
        )


@dataclass
class JobPage:
    """A page of GET /v1/jobs; pass next_cursor to list for the next."""

    jobs: List[Job]
    next_cursor: Optional[str]


@dataclass
class JobEvent:
    """A message of GET /v1/jobs/{id}/events: a timeline event (type is
    its type, id set) or a progress change (type "progress", no id)."""

    type: str
    state: str
    id: Optional[str] = None
    attempt: Optional[int] = None
    message: Optional[str] = None
    progress: Optional[int] = None
    status_message: Optional[str] = None
    at: str = ""

    @classmethod
    def from_sse(cls, event: str, data: str, ident: Optional[str]) -> "JobEvent":
        d = json.loads(data)
        return cls(type=event, state=d.get("state", ""), id=ident, attempt=d.get("attempt"),
                   message=d.get("message"), progress=d.get("progress"),
                   status_message=d.get("status_message"), at=d.get("at", ""))


@dataclass
class OutputChunk:
    """One chunk of a job's output: seq runs 1, 2, … across attempts."""

    seq: int
    attempt: int
    text: str


@dataclass
class OutputText:
    """A job's whole output: the last attempt's chunks joined."""

    job_id: str
    state: str
    attempt: int
    text: str
    last_seq: int
