/** Errors the Hopper client and worker throw. */

/** The gateway refused a request: its HTTP status and error body. */
export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly retryAfter?: number,
  ) {
    super(`${message} (HTTP ${status}, ${code})`);
    this.name = "APIError";
  }

  /** A 429 or 5xx: the same request may work later. */
  get retryable(): boolean {
    return this.status === 429 || this.status >= 500;
  }
}

/** The gateway could not be reached or hung up. */
export class TransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransportError";
  }
}

/** Thrown by a handler: the job fails now, without retries. */
export class Permanent extends Error {
  constructor(message = "failed") {
    super(message);
    this.name = "Permanent";
  }
}

/** Thrown by a handler: retry after `seconds` (at least the kind's backoff). */
export class RetryAfter extends Error {
  constructor(readonly seconds: number, message = "retry requested") {
    super(message);
    this.name = "RetryAfter";
  }
}

/** Thrown by job.progress/output once the job was cancelled; the job ends cancelled. */
export class Cancelled extends Error {
  constructor(message = "cancelled") {
    super(message);
    this.name = "Cancelled";
  }
}

/** Thrown by job calls once the attempt is no longer this worker's (its lease expired). */
export class LeaseLost extends Error {
  constructor(message = "lease lost") {
    super(message);
    this.name = "LeaseLost";
  }
}
