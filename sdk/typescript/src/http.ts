/** HTTP/JSON and Server-Sent Events over the global fetch. */

import { APIError, TransportError } from "./errors.js";
import { VERSION } from "./version.js";

/** One Server-Sent Events message. */
export interface SSEMessage {
  event: string;
  data: string;
  id?: string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Sends requests with a bearer token to one gateway. */
export class Transport {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs = 30_000,
    private readonly defaultHeaders: Record<string, string> = {},
  ) {
    if (!baseUrl) throw new TypeError("baseUrl is required (or HOPPER_URL)");
    if (!token) throw new TypeError("a token is required (an API key, or a worker token for a Worker)");
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  private headers(extra?: Record<string, string>, json = false): Record<string, string> {
    const h: Record<string, string> = {
      Authorization: `Bearer ${this.token}`,
      "User-Agent": `hopper-client-typescript/${VERSION}`,
      Accept: "application/json",
      ...this.defaultHeaders,
      ...extra,
    };
    if (json) h["Content-Type"] = "application/json";
    return h;
  }

  /** Sends a request; answers the status and decoded JSON (undefined when empty). */
  async call<T = unknown>(method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<{ status: number; body: T | undefined }> {
    const timeout = AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs);
    const signal = opts.signal ? anySignal([opts.signal, timeout]) : timeout;
    let resp: Response;
    let text: string;
    try {
      resp = await fetch(this.baseUrl + path, {
        method,
        headers: this.headers(opts.headers, body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      text = await resp.text();
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new TransportError(`${method} ${path}: ${(e as Error).message}`, { cause: e });
    }
    if (resp.status >= 400) throw apiError(resp, text);
    if (!text.trim()) return { status: resp.status, body: undefined };
    try {
      return { status: resp.status, body: JSON.parse(text) as T };
    } catch (e) {
      throw new TransportError(`${method} ${path}: the answer is not JSON`, { cause: e });
    }
  }

  /**
   * Yields an SSE stream's messages until the server ends it. The server
   * sends a keepalive every 15 s, so a stream silent for idleMs is dead.
   */
  async *stream(path: string, lastEventId?: string, signal?: AbortSignal, idleMs = 60_000): AsyncGenerator<SSEMessage> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    let idle = setTimeout(() => ctl.abort(new TransportError("stream idle")), idleMs);
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (lastEventId) headers["Last-Event-ID"] = lastEventId;
    try {
      let resp: Response;
      try {
        resp = await fetch(this.baseUrl + path, { headers: this.headers(headers), signal: ctl.signal });
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new TransportError(`GET ${path}: ${(e as Error).message}`, { cause: e });
      }
      if (resp.status >= 400) throw apiError(resp, await resp.text());
      if (!resp.body) return;
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      let msg: SSEMessage = { event: "message", data: "" };
      let hasData = false;
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (signal?.aborted) throw e;
          throw new TransportError(`GET ${path}: stream broke: ${(e as Error).message}`, { cause: e });
        }
        if (chunk.done) return;
        clearTimeout(idle);
        idle = setTimeout(() => ctl.abort(new TransportError("stream idle")), idleMs);
        buf += decoder.decode(chunk.value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, "");
          buf = buf.slice(nl + 1);
          if (line === "") {
            if (hasData) yield msg;
            msg = { event: "message", data: "" };
            hasData = false;
          } else if (!line.startsWith(":")) {
            const i = line.indexOf(":");
            const field = i < 0 ? line : line.slice(0, i);
            let value = i < 0 ? "" : line.slice(i + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "event") msg.event = value;
            else if (field === "id") msg.id = value;
            else if (field === "data") {
              msg.data = hasData ? msg.data + "\n" + value : value;
              hasData = true;
            }
          }
        }
      }
    } finally {
      clearTimeout(idle);
      signal?.removeEventListener("abort", onAbort);
      ctl.abort();
    }
  }
}

function apiError(resp: Response, text: string): APIError {
  let code = `http_${resp.status}`;
  let message = text.trim() || resp.statusText;
  let details: Record<string, unknown> = {};
  try {
    const err = (JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } }).error;
    if (err) {
      code = err.code ?? code;
      message = err.message ?? message;
      details = err.details ?? {};
    }
  } catch {
    // not JSON: keep the text
  }
  const ra = Number(resp.headers.get("Retry-After"));
  return new APIError(resp.status, code, message, details, Number.isFinite(ra) && ra > 0 ? ra : undefined);
}

/** Escapes a path segment. */
export const seg = (s: string): string => encodeURIComponent(s);

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** AbortSignal.any (Node 20.3+), written out so Debian 12's Node 18 runs the SDK too. */
export function anySignal(signals: AbortSignal[]): AbortSignal {
  const ctl = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      ctl.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => ctl.abort(s.reason), { once: true, signal: ctl.signal });
  }
  return ctl.signal;
}
