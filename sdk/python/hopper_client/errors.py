"""Errors raised by the Hopper client and worker."""

from __future__ import annotations

from typing import Any, Dict, Optional


class HopperError(Exception):
    """Base of every error this package raises."""


class APIError(HopperError):
    """The gateway refused a request: its HTTP status and error body
    ({"error": {"code", "message", "details"}})."""

    def __init__(self, status: int, code: str, message: str,
                 details: Optional[Dict[str, Any]] = None, retry_after: Optional[float] = None) -> None:
        super().__init__(f"{message} (HTTP {status}, {code})")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """A 429 or 5xx: the same request may work later."""
        return self.status == 429 or self.status >= 500


class TransportError(HopperError):
    """The gateway could not be reached or hung up."""


class Permanent(HopperError):
    """Raised by a handler: the job fails now, without retries."""


class RetryAfter(HopperError):
    """Raised by a handler: retry the job after `seconds` (at least the
    kind's backoff)."""

    def __init__(self, seconds: float, message: str = "retry requested") -> None:
        super().__init__(message)
        self.seconds = seconds


class Cancelled(HopperError):
    """Raised by Job.progress/output once the job was cancelled: let it
    propagate (or return); the job ends cancelled."""


class LeaseLost(HopperError):
    """Raised by Job calls once this attempt is no longer the worker's
    (its lease expired and the job runs elsewhere): its result would be
    discarded."""
