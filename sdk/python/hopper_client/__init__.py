"""Hopper's Python SDK: a client for the job API (API key) and a worker
for the pull protocol (worker token). Standard library only.

    from hopper_client import Client, Worker
"""

from ._version import __version__
from .client import AsyncClient, Client
from .errors import APIError, Cancelled, HopperError, LeaseLost, Permanent, RetryAfter, TransportError
from .models import Accepted, Job, JobEvent, JobPage, OutputChunk, OutputText, TimelineEvent
from .worker import ClaimedJob, KindSpec, Worker, WorkflowRef
from .workflow import (StepRetried, Workflow, WorkflowAccepted, WorkflowCancelled, WorkflowEvent, WorkflowInfo,
                       WorkflowJob, WorkflowPage, WorkflowStep, WorkflowStepState, WorkflowTimelineEvent)

__all__ = [
    "__version__", "Client", "AsyncClient", "Worker", "ClaimedJob", "KindSpec",
    "Accepted", "Job", "JobEvent", "JobPage", "OutputChunk", "OutputText", "TimelineEvent",
    "Workflow", "WorkflowAccepted", "WorkflowInfo", "WorkflowStep", "WorkflowJob", "WorkflowTimelineEvent",
    "WorkflowPage", "WorkflowCancelled", "StepRetried", "WorkflowEvent", "WorkflowStepState", "WorkflowRef",
    "HopperError", "APIError", "TransportError", "Permanent", "RetryAfter", "Cancelled", "LeaseLost",
]
