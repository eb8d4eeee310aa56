"""HTTP/JSON and Server-Sent Events over urllib (standard library only)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

from ._version import __version__
from .errors import APIError, TransportError

USER_AGENT = f"hopper-client-python/{__version__}"


@dataclass
class SSEMessage:
    """One Server-Sent Events message."""

    event: str
    data: str
    id: Optional[str] = None


class Transport:
    """Sends requests with a bearer token to one gateway."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0,
                 headers: Optional[Dict[str, str]] = None) -> None:
        if not base_url:
            raise ValueError("base_url is required (or HOPPER_URL)")
        if not token:
            raise ValueError("a token is required (an API key, or a worker token for a Worker)")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.headers = dict(headers or {})

    def _request(self, method: str, path: str, body: Any = None,
                 headers: Optional[Dict[str, str]] = None) -> urllib.request.Request:
        data = None
        h = {"Authorization": "Bearer " + self.token, "User-Agent": USER_AGENT, "Accept": "application/json"}
        h.update(self.headers)
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        return urllib.request.Request(self.base_url + path, data=data, method=method, headers=h)

    def call(self, method: str, path: str, body: Any = None, *, headers: Optional[Dict[str, str]] = None,
             timeout: Optional[float] = None) -> Tuple[int, Any]:
        """Sends a request; returns (status, decoded JSON or None). An
        HTTP error raises APIError, a network failure TransportError."""
        req = self._request(method, path, body, headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw.strip() else None)
        except urllib.error.HTTPError as e:
            raise _api_error(e) from None
        except (urllib.error.URLError, OSError, socket.timeout, json.JSONDecodeError) as e:
            raise TransportError(f"{method} {path}: {e}") from e

    def stream(self, path: str, last_event_id: Optional[str] = None,
               read_timeout: float = 60.0) -> Iterator[SSEMessage]:
        """Yields the messages of an SSE stream until the server ends it.
        The server sends a keepalive every 15 s, so a read waiting longer
        than read_timeout is a dead connection (TransportError)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        req = self._request("GET", path, headers=headers)
        try:
            resp = urllib.request.urlopen(req, timeout=read_timeout)
        except urllib.error.HTTPError as e:
            raise _api_error(e) from None
        except (urllib.error.URLError, OSError) as e:
            raise TransportError(f"GET {path}: {e}") from e
        with resp:
            event, data, ident = "message", [], None
            try:
                while True:
                    line = resp.readline()
                    if not line:
                        return
                    text = line.decode("utf-8").rstrip("\r\n")
                    if text == "":
                        if data:
                            yield SSEMessage(event=event, data="\n".join(data), id=ident)
                        event, data, ident = "message", [], None
                    elif text.startswith(":"):
                        continue
                    else:
                        field, _, value = text.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "event":
                            event = value
                        elif field == "data":
                            data.append(value)
                        elif field == "id":
                            ident = value
            except (OSError, socket.timeout, ValueError) as e:
                raise TransportError(f"GET {path}: stream broke: {e}") from e


def _api_error(e: urllib.error.HTTPError) -> APIError:
    raw = b""
    try:
        raw = e.read()
    except OSError:
        pass
    code, message, details = "http_" + str(e.code), raw.decode("utf-8", "replace").strip() or e.reason, None
    try:
        body = json.loads(raw)
        err = body.get("error", {}) if isinstance(body, dict) else {}
        code, message, details = err.get("code", code), err.get("message", message), err.get("details")
    except (ValueError, AttributeError):
        pass
    retry_after = None
    ra = e.headers.get("Retry-After") if e.headers else None
    if ra:
        try:
            retry_after = float(ra)
        except ValueError:
            pass
    return APIError(e.code, str(code), str(message), details if isinstance(details, dict) else None, retry_after)


def quote(s: str) -> str:
    """Escapes a path segment."""
    return urllib.parse.quote(str(s), safe="")


def query(params: Dict[str, Any]) -> str:
    """Encodes the params that are set as a query string ("" when none)."""
    q = {k: v for k, v in params.items() if v is not None and v != ""}
    return "?" + urllib.parse.urlencode(q) if q else ""
