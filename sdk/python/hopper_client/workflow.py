"""Workflows in code: a builder of POST /v1/workflows's body, and the
typed views of the workflow endpoints and their event stream.

    wf = (Workflow("index a book")
          .step("split", "acme.split", {"url": url})
          .step("embed", "acme.embed", {"model": "small"}, fan_out_from=("split", "chunks"), max_attempts=5)
          .step("title", "acme.title", depends_on=["split"])
          .step("index", "acme.index", depends_on=["embed", "title"]))
    accepted = client.submit_workflow(wf)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from .models import TERMINAL_STATES

FAILURE_POLICIES = ("stop", "continue")
_PRIORITY_NAMES = ("low", "normal", "high")


class Workflow:
    """Builds a workflow: named steps of any kinds, each run once every
    step it depends on has succeeded (see the README's Workflows section).

    step() checks each step as it is added (a duplicate name, a bad
    option, a payload that is not JSON raise ValueError at once); build()
    checks the graph (an unknown dependency, a cycle). The gateway checks
    the rest — kinds, payloads against their schemas, your plan's bounds —
    and names the field it refuses.
    """

    def __init__(self, name: str = "", *, failure_policy: str = "stop",
                 idempotency_key: Optional[str] = None) -> None:
        if failure_policy not in FAILURE_POLICIES:
            raise ValueError(f"failure_policy {failure_policy!r}: want 'stop' or 'continue'")
        self.name = name
        self.failure_policy = failure_policy
        self.idempotency_key = idempotency_key
        self._steps: List[Dict[str, Any]] = []
        self._names: Dict[str, int] = {}

    def continue_on_failure(self) -> "Workflow":
        """Failure policy "continue": a failed step skips only the steps
        that depend on it. The default, "stop", cancels what has not run."""
        self.failure_policy = "continue"
        return self

    def step(self, name: str, kind: str, payload: Optional[Dict[str, Any]] = None, *,
             depends_on: Iterable[str] = (), fan_out: Optional[Sequence[Any]] = None,
             fan_out_from: Optional[Tuple[str, str]] = None, priority: Union[str, int, None] = None,
             max_attempts: Optional[int] = None, timeout: Union[str, float, None] = None) -> "Workflow":
        """Adds step name running kind with payload, and returns the
        builder.

        depends_on: steps that must succeed first. fan_out: one job per
        element of this list; fan_out_from=(step, path): one job per
        element of the list at path (dotted, "" for the whole result) in
        step's result, and depends on step. Each element's job gets the
        element as "item" and its position as "index" in its payload.
        priority "low", "normal", "high" or 0-5; timeout "90s" or seconds.
        """
        where = f"step {name!r}"
        if not isinstance(name, str) or not name:
            raise ValueError("a step needs a name")
        if name in self._names:
            raise ValueError(f"{where}: a step of that name already exists")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"{where}: a step needs a kind")
        if payload is not None and not isinstance(payload, dict):
            raise ValueError(f"{where}: payload must be a dict (a JSON object)")
        s: Dict[str, Any] = {"name": name, "kind": kind}
        if payload is not None:
            s["payload"] = _json(payload, f"{where}: payload")
        deps: List[str] = []
        for d in ([depends_on] if isinstance(depends_on, str) else depends_on):
            if d == name:
                raise ValueError(f"{where}: depends on itself")
            if d not in deps:
                deps.append(d)
        if fan_out is not None and fan_out_from is not None:
            raise ValueError(f"{where}: fan_out and fan_out_from are exclusive")
        if fan_out is not None:
            if isinstance(fan_out, (str, bytes, dict)) or not isinstance(fan_out, Sequence):
                raise ValueError(f"{where}: fan_out must be a list")
            s["for_each"] = {"items": _json(list(fan_out), f"{where}: fan_out")}
        if fan_out_from is not None:
            parent, path = fan_out_from
            if not parent:
                raise ValueError(f"{where}: fan_out_from needs a step")
            s["for_each"] = {"from": parent, "path": path or ""}
            if parent not in deps:
                deps.append(parent)
        if deps:
            s["depends_on"] = deps
        opts: Dict[str, Any] = {}
        if priority is not None:
            opts["priority"] = _priority(priority, where)
        if max_attempts is not None:
            if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
                raise ValueError(f"{where}: max_attempts {max_attempts!r}: want an integer ≥ 1")
            opts["max_attempts"] = max_attempts
        if timeout is not None:
            opts["timeout"] = _timeout(timeout, where)
        if opts:
            s["options"] = opts
        self._names[name] = len(self._steps)
        self._steps.append(s)
        return self

    def build(self) -> Dict[str, Any]:
        """The request body (a new dict each call). Raises ValueError for
        no steps, an unknown dependency or a cycle."""
        if not self._steps:
            raise ValueError("a workflow needs at least one step")
        for s in self._steps:
            for d in s.get("depends_on", ()):
                if d not in self._names:
                    raise ValueError(f"step {s['name']!r}: depends on {d!r}, which is not a step")
        cycle = _find_cycle(self._steps)
        if cycle:
            raise ValueError("depends_on makes a cycle: " + " → ".join(cycle))
        body: Dict[str, Any] = {"steps": json.loads(json.dumps(self._steps))}
        if self.name:
            body["name"] = self.name
        if self.failure_policy != "stop":
            body["failure_policy"] = self.failure_policy
        if self.idempotency_key:
            body["idempotency_key"] = self.idempotency_key
        return body


def _json(v: Any, where: str) -> Any:
    """v, checked to encode as JSON (no NaN or infinity, which JSON lacks)."""
    try:
        json.dumps(v, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where} is not JSON: {e}") from None
    return v


def _priority(p: Union[str, int], where: str) -> Union[str, int]:
    if isinstance(p, str) and p in _PRIORITY_NAMES:
        return p
    if isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 5:
        return p
    raise ValueError(f"{where}: priority {p!r}: want 'low', 'normal', 'high' or 0-5")


def _timeout(t: Union[str, float], where: str) -> Union[str, float]:
    if isinstance(t, str) and t:
        return t
    if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) and t > 0:
        return t
    raise ValueError(f"{where}: timeout {t!r}: want a positive number of seconds or a duration like '90s'")


def _find_cycle(steps: List[Dict[str, Any]]) -> Optional[List[str]]:
    """A cycle of depends_on as [a, …, a], or None."""
    deps = {s["name"]: s.get("depends_on", []) for s in steps}
    state: Dict[str, int] = {}  # 1 on the path, 2 done
    path: List[str] = []

    def visit(n: str) -> Optional[List[str]]:
        state[n] = 1
        path.append(n)
        for d in deps.get(n, ()):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for s in steps:
        if s["name"] not in state:
            found = visit(s["name"])
            if found:
                return found
    return None


@dataclass
class WorkflowAccepted:
    """A submitted workflow: POST /v1/workflows's answer."""

    id: str
    state: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "WorkflowAccepted":
        return cls(id=d["id"], state=d.get("state", ""), raw=d)


@dataclass
class WorkflowJob:
    """One job of a step (one per element of a fan-out)."""

    id: str
    state: str
    attempts: int = 0
    element: Optional[int] = None
    error: Optional[str] = None


@dataclass
class WorkflowStep:
    """A step as GET /v1/workflows/{id} shows it: its state (waiting,
    running, succeeded, failed, cancelled, skipped), jobs and, once
    succeeded, its result (a fan-out's: its elements' results in order)."""

    name: str
    kind: str
    state: str
    depends_on: List[str] = field(default_factory=list)
    for_each: Any = None
    jobs: List[WorkflowJob] = field(default_factory=list)
    jobs_total: int = 0
    jobs_succeeded: int = 0
    jobs_failed: int = 0
    jobs_cancelled: int = 0
    attempts: int = 0
    result: Any = None
    error: Optional[str] = None
    released_at: Optional[str] = None
    finished_at: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "WorkflowStep":
        return cls(
            name=d["name"], kind=d.get("kind", ""), state=d.get("state", ""), depends_on=d.get("depends_on") or [],
            for_each=d.get("for_each"),
            jobs=[WorkflowJob(id=j["id"], state=j.get("state", ""), attempts=j.get("attempts", 0),
                              element=j.get("element"), error=j.get("error")) for j in d.get("jobs") or []],
            jobs_total=d.get("jobs_total", 0), jobs_succeeded=d.get("jobs_succeeded", 0),
            jobs_failed=d.get("jobs_failed", 0), jobs_cancelled=d.get("jobs_cancelled", 0),
            attempts=d.get("attempts", 0), result=d.get("result"), error=d.get("error"),
            released_at=d.get("released_at"), finished_at=d.get("finished_at"),
        )


@dataclass
class WorkflowTimelineEvent:
    """One entry of a workflow's timeline (created, released, succeeded,
    failed, cancelled, skipped; step empty for the workflow's own)."""

    at: str
    type: str
    step: str = ""
    error: Optional[str] = None


@dataclass
class WorkflowInfo:
    """A workflow as GET /v1/workflows/{id} shows it (a list shows it
    without steps and timeline)."""

    id: str
    state: str
    name: str = ""
    failure_policy: str = "stop"
    created_at: str = ""
    updated_at: str = ""
    finished_at: Optional[str] = None
    steps: List[WorkflowStep] = field(default_factory=list)
    timeline: List[WorkflowTimelineEvent] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def terminal(self) -> bool:
        """Succeeded, failed or cancelled (a step retry may resume it)."""
        return self.state in TERMINAL_STATES

    def step(self, name: str) -> WorkflowStep:
        """The step called name (KeyError if none)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "WorkflowInfo":
        return cls(
            id=d["id"], state=d.get("state", ""), name=d.get("name", ""),
            failure_policy=d.get("failure_policy", "stop"), created_at=d.get("created_at", ""),
            updated_at=d.get("updated_at", ""), finished_at=d.get("finished_at"),
            steps=[WorkflowStep.from_dict(s) for s in d.get("steps") or []],
            timeline=[WorkflowTimelineEvent(at=e.get("at", ""), type=e.get("type", ""), step=e.get("step", ""),
                                            error=e.get("error")) for e in d.get("timeline") or []],
            raw=d,
        )


@dataclass
class WorkflowPage:
    """A page of GET /v1/workflows; pass next_cursor for the next."""

    workflows: List[WorkflowInfo]
    next_cursor: Optional[str]


@dataclass
class WorkflowCancelled:
    """cancel_workflow's answer: the workflow, the jobs cancelled at once
    and the running ones whose workers were asked to stop."""

    workflow: WorkflowInfo
    cancelled_jobs: int
    stopping_jobs: int


@dataclass
class StepRetried:
    """retry_step's answer: the workflow and the ids of the jobs queued
    again."""

    workflow: WorkflowInfo
    jobs: List[str]


@dataclass
class WorkflowStepState:
    """A step in the event stream: its state and how its jobs ended."""

    name: str
    state: str
    jobs_total: int = 0
    jobs_succeeded: int = 0
    jobs_failed: int = 0
    jobs_cancelled: int = 0
    error: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "WorkflowStepState":
        return cls(name=d.get("name", ""), state=d.get("state", ""), jobs_total=d.get("jobs_total", 0),
                   jobs_succeeded=d.get("jobs_succeeded", 0), jobs_failed=d.get("jobs_failed", 0),
                   jobs_cancelled=d.get("jobs_cancelled", 0), error=d.get("error"))


@dataclass
class WorkflowEvent:
    """A message of GET /v1/workflows/{id}/events: type "snapshot" (the
    workflow and every step, first on each connection), "step" (the one
    step that changed) or "workflow" (the workflow's state changed).
    state is the workflow's."""

    type: str
    workflow_id: str
    state: str
    steps: List[WorkflowStepState] = field(default_factory=list)
    at: str = ""

    @property
    def terminal(self) -> bool:
        """The workflow is over (the stream ends after the terminal
        snapshot or workflow event)."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_sse(cls, event: str, data: str) -> Optional["WorkflowEvent"]:
        """The event, or None for a type this SDK does not know."""
        d = json.loads(data)
        if event == "snapshot":
            steps = [WorkflowStepState.from_dict(s) for s in d.get("steps") or []]
            return cls(type=event, workflow_id=d.get("workflow_id", ""), state=d.get("state", ""), steps=steps,
                       at=d.get("at", ""))
        if event == "step":
            return cls(type=event, workflow_id=d.get("workflow_id", ""), state=d.get("workflow_state", ""),
                       steps=[WorkflowStepState.from_dict(d)], at=d.get("at", ""))
        if event == "workflow":
            return cls(type=event, workflow_id=d.get("workflow_id", ""), state=d.get("state", ""), at=d.get("at", ""))
        return None
