/** A pull-protocol worker: runs your handlers with a worker token over HTTP. */

import { APIError, Cancelled, LeaseLost, Permanent, RetryAfter, TransportError } from "./errors.js";
import { Transport, seg, sleep } from "./http.js";

/** A chunk is at most 16 KiB and a call carries at most 256 (the gateway's bounds). */
export const MAX_CHUNK_BYTES = 16 * 1024;
export const MAX_BATCH = 256;
/** Output is sent at most every 20 ms per job. */
export const FLUSH_EVERY_MS = 20;

/** A kind as POST /v1/worker/kinds registers it (durations in seconds). */
export interface KindOptions {
  /** default: the name's prefix before "." */
  queue?: string;
  description?: string;
  /** the payload's JSON Schema */
  schema?: Record<string, unknown>;
  timeoutSeconds?: number;
  maxTimeoutSeconds?: number;
  maxAttempts?: number;
  backoffBaseSeconds?: number;
  backoffCapSeconds?: number;
  defaultPriority?: number;
  version?: string;
  visibility?: string;
}

export type Handler = (job: ClaimedJob) => unknown | Promise<unknown>;

export interface WorkerOptions {
  /** default HOPPER_URL, else http://127.0.0.1:8080 */
  baseUrl?: string;
  /** default HOPPER_WORKER_TOKEN */
  token?: string;
  /** jobs run at once (default 1) */
  concurrency?: number;
  /** claim from these queues only (default: all of the token's) */
  queues?: string[];
  /** 2-600, default 30; heartbeats every lease/3 */
  leaseSeconds?: number;
  /** a claim's long poll, default 5 (a stop waits for it) */
  waitSeconds?: number;
  /** how long running jobs may finish after stop(), default 30 */
  graceSeconds?: number;
  logger?: Pick<Console, "info" | "warn" | "error">;
  /** names this process in GET /v1/workers (default HOSTNAME-pid) */
  instance?: string;
}

interface ClaimedView {
  id: string;
  kind: string;
  queue: string;
  attempt: number;
  max_attempts: number;
  priority: number;
  payload: unknown;
  timeout_seconds: number;
  lease_seconds: number;
  workflow?: WorkflowRef;
}

/** The workflow step a claimed job runs. */
export interface WorkflowRef {
  id: string;
  step: string;
  /** the job's position in a fan-out step (its payload's "index") */
  element?: number;
}

/** Cuts text into chunks of at most MAX_CHUNK_BYTES UTF-8 bytes on code point boundaries. */
export function splitChunks(text: string): string[] {
  const enc = new TextEncoder();
  if (enc.encode(text).length <= MAX_CHUNK_BYTES) return text ? [text] : [];
  const out: string[] = [];
  let cur = "";
  let size = 0;
  for (const ch of text) {
    const n = enc.encode(ch).length;
    if (size + n > MAX_CHUNK_BYTES) {
      out.push(cur);
      cur = "";
      size = 0;
    }
    cur += ch;
    size += n;
  }
  if (cur) out.push(cur);
  return out;
}

/** A job this worker claimed, handed to its handler. */
export class ClaimedJob {
  readonly id: string;
  readonly kind: string;
  readonly queue: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: number;
  readonly payload: unknown;
  readonly timeoutSeconds: number;
  readonly leaseSeconds: number;
  /** Set when the job runs a workflow's step: see parentResults. */
  readonly workflow?: WorkflowRef;
  private readonly ctl = new AbortController();
  private lost = false;
  private pending: string[] = [];
  private scheduled?: Promise<void>;
  private chain: Promise<void> = Promise.resolve();
  private lastFlush = 0;
  private error?: Error;

  /** @internal */
  constructor(private readonly w: Worker, v: ClaimedView) {
    this.id = v.id;
    this.kind = v.kind;
    this.queue = v.queue;
    this.attempt = v.attempt;
    this.maxAttempts = v.max_attempts;
    this.priority = v.priority;
    this.payload = v.payload;
    this.timeoutSeconds = v.timeout_seconds;
    this.leaseSeconds = v.lease_seconds;
    this.workflow = v.workflow;
  }

  /** Aborted once the job was cancelled (reason Cancelled) or the attempt lost (reason LeaseLost). */
  get signal(): AbortSignal {
    return this.ctl.signal;
  }

  get cancelled(): boolean {
    return this.ctl.signal.aborted;
  }

  get leaseLost(): boolean {
    return this.lost;
  }

  /** @internal */
  abort(reason: Error): void {
    if (reason instanceof LeaseLost) this.lost = true;
    if (!this.ctl.signal.aborted) this.ctl.abort(reason);
  }

  private check(): void {
    if (this.ctl.signal.aborted) throw this.ctl.signal.reason as Error;
  }

  /** A call about this job (op: the path after /v1/worker/jobs/{id}/), transient failures retried briefly; 404/409 mark the attempt lost. */
  private async request<T>(method: string, op: string, body?: unknown): Promise<T | undefined> {
    try {
      return await this.w.retrying(
        async () => (await this.w.t.call<T>(method, `/v1/worker/jobs/${seg(this.id)}/${op}`, body)).body,
        (this.leaseSeconds * 1000) / 2,
      );
    } catch (e) {
      if (e instanceof APIError && (e.status === 404 || e.status === 409)) {
        const lost = new LeaseLost(`job ${this.id} attempt ${this.attempt}: ${e.message}`);
        this.abort(lost);
        throw lost;
      }
      throw e;
    }
  }

  /** @internal A job call; 404/409 mark the attempt lost, cancel_requested aborts the signal. */
  async call(op: string, body: Record<string, unknown>): Promise<{ cancel_requested?: boolean; state?: string }> {
    const out = await this.request<{ cancel_requested?: boolean; state?: string }>("POST", op, { ...body, attempt: this.attempt });
    if (out?.cancel_requested) this.abort(new Cancelled(`job ${this.id} was cancelled`));
    return out ?? {};
  }

  /**
   * The results of the parents of the workflow step this job runs, by
   * step name: a parent's result as its handler returned it, a fan-out
   * parent's the list of its elements' results in order. Read from the
   * parents' jobs when called (GET /v1/worker/jobs/{id}/parents), never
   * copied into this job; {} for a job outside a workflow. step reads
   * only that parent (for results too large to read at once: the gateway
   * answers 422 past 8 MiB). Throws LeaseLost once the attempt is no
   * longer this worker's.
   */
  async parentResults(step?: string): Promise<Record<string, unknown>> {
    if (!this.workflow) return {};
    const q = new URLSearchParams({ attempt: String(this.attempt) });
    if (step) q.set("step", step);
    const out = await this.request<{ parents?: Record<string, unknown> }>("GET", `parents?${q}`);
    return out?.parents ?? {};
  }

  /** The result of parent step (see parentResults); throws when step is not a parent that succeeded. */
  async parentResult<T = unknown>(step: string): Promise<T> {
    const all = await this.parentResults(step);
    if (!(step in all)) throw new Error(`step ${JSON.stringify(step)} is not a parent of ${this.workflow?.step ?? "this job"} with a result`);
    return all[step] as T;
  }

  /** Reports progress (0-100) and a status message; renews the lease. Throws Cancelled or LeaseLost. */
  async progress(percent: number, message = ""): Promise<void> {
    this.check();
    await this.call("progress", { progress: Math.round(percent), message: message.slice(0, 1024), lease_seconds: this.leaseSeconds });
    this.check();
  }

  /** Renews the lease now (the worker does it every lease/3 by itself). */
  async heartbeat(): Promise<void> {
    this.check();
    await this.call("heartbeat", { lease_seconds: this.leaseSeconds });
    this.check();
  }

  /**
   * Appends text to the job's output. Chunks written within 20 ms go out
   * in one call, in order; the promise settles when its batch was sent.
   */
  output(text: string): Promise<void> {
    try {
      this.check();
      if (this.error) throw this.error;
    } catch (e) {
      return Promise.reject(e);
    }
    this.pending.push(...splitChunks(text));
    if (!this.scheduled) {
      const wait = Math.max(0, this.lastFlush + FLUSH_EVERY_MS - Date.now());
      const p = sleep(this.pending.length >= MAX_BATCH ? 0 : wait).then(() => {
        this.scheduled = undefined;
        return this.flush();
      });
      p.catch((e: Error) => {
        this.error ??= e; // thrown on the next output call if this one was not awaited
      });
      this.scheduled = p;
    }
    return this.scheduled;
  }

  /** Sends what was written so far (the worker flushes before finishing the job). */
  flush(): Promise<void> {
    const p = this.chain.then(async () => {
      while (this.pending.length) {
        const batch = this.pending.splice(0, MAX_BATCH);
        this.lastFlush = Date.now();
        if (this.lost) throw new LeaseLost(`job ${this.id} attempt ${this.attempt} is no longer this worker's`);
        await this.call("output", { chunks: batch });
      }
    });
    this.chain = p.catch(() => {});
    return p;
  }
}

/** Makes name a valid Hopper-Worker-Instance: 1-64 of A-Za-z0-9._:@-. */
export function instanceName(name: string): string {
  return name.replace(/[^A-Za-z0-9._:@-]/g, "-").slice(0, 64) || "worker";
}

/**
 * Runs handlers for kinds with a worker token (POST /v1/admin/worker-tokens
 * or `hopperctl worker-tokens create`).
 */
export class Worker {
  /** @internal */
  readonly t: Transport;
  private readonly handlers = new Map<string, { fn: Handler; opts: KindOptions }>();
  private readonly running = new Map<string, ClaimedJob>();
  private readonly stopping = new AbortController();
  readonly concurrency: number;
  /** Names this process in GET /v1/workers (Hopper-Worker-Instance). */
  readonly instance: string;
  readonly leaseSeconds: number;
  readonly waitSeconds: number;
  readonly graceSeconds: number;
  private readonly queues?: string[];
  private readonly log: Pick<Console, "info" | "warn" | "error">;

  constructor(opts: WorkerOptions = {}) {
    // The instance names this process in GET /v1/workers (each process
    // its own row, not one per token).
    this.instance = instanceName(opts.instance ?? `${process.env.HOSTNAME ?? "node"}-${process.pid}`);
    this.t = new Transport(
      opts.baseUrl ?? process.env.HOPPER_URL ?? "http://127.0.0.1:8080",
      opts.token ?? process.env.HOPPER_WORKER_TOKEN ?? "",
      30_000,
      { "Hopper-Worker-Instance": this.instance },
    );
    this.concurrency = opts.concurrency ?? 1;
    this.leaseSeconds = opts.leaseSeconds ?? 30;
    this.waitSeconds = Math.min(Math.max(opts.waitSeconds ?? 5, 0), 30);
    this.graceSeconds = opts.graceSeconds ?? 30;
    this.queues = opts.queues;
    this.log = opts.logger ?? console;
    if (this.concurrency < 1) throw new RangeError("concurrency must be at least 1");
    if (this.leaseSeconds < 2 || this.leaseSeconds > 600) throw new RangeError("leaseSeconds must be 2 to 600");
  }

  /** Registers fn as the handler of kind name. */
  handle(name: string, fn: Handler, opts: KindOptions = {}): this {
    this.handlers.set(name, { fn, opts });
    return this;
  }

  /** Stops claiming; running jobs finish within graceSeconds. */
  stop(): void {
    this.stopping.abort();
  }

  /**
   * Registers the kinds, then claims and runs jobs until stop() (or
   * SIGTERM/SIGINT): then stops claiming, lets running jobs finish
   * within graceSeconds and hands the rest back uncharged.
   */
  async run(opts: { signals?: boolean } = {}): Promise<void> {
    if (this.handlers.size === 0) throw new Error("no kinds registered: use worker.handle(kind, fn)");
    const onSignal = () => this.stop();
    if (opts.signals ?? true) {
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    }
    try {
      const kinds = [...this.handlers].map(([name, { opts: o }]) => kindBody(name, o));
      await this.retrying(() => this.t.call("POST", "/v1/worker/kinds", { kinds }), 60_000);
      this.log.info(`hopper worker started: kinds ${[...this.handlers.keys()].join(", ")}, concurrency ${this.concurrency}`);
      const slots = Array.from({ length: this.concurrency }, () => this.slot());
      await new Promise<void>((resolve) => this.stopping.signal.addEventListener("abort", () => resolve(), { once: true }));
      this.log.info(`hopper worker stopping: no new claims; waiting up to ${this.graceSeconds}s for running jobs`);
      const grace = new AbortController(); // its timer must not keep the process alive after
      await Promise.race([Promise.all(slots), sleep(this.graceSeconds * 1000, grace.signal)]);
      grace.abort();
      await this.abandon();
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  }

  /** @internal Retries transport failures, 429 and 5xx with backoff for up to budgetMs. */
  async retrying<T>(fn: () => Promise<T>, budgetMs: number): Promise<T> {
    const deadline = Date.now() + budgetMs;
    let delay = 100;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        const retryable = e instanceof TransportError || (e instanceof APIError && e.retryable);
        if (!retryable) throw e;
        const wait = (e instanceof APIError && e.retryAfter ? e.retryAfter * 1000 : delay) * (0.5 + Math.random());
        if (Date.now() + wait > deadline) throw e;
        await sleep(wait);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  private async slot(): Promise<void> {
    const body: Record<string, unknown> = { wait_seconds: this.waitSeconds, lease_seconds: this.leaseSeconds };
    if (this.queues) body.queues = this.queues;
    let delay = 200;
    while (!this.stopping.signal.aborted) {
      let job: ClaimedView | undefined;
      try {
        const { status, body: out } = await this.t.call<{ job: ClaimedView }>("POST", "/v1/worker/claim", body, {
          timeoutMs: (this.waitSeconds + 15) * 1000,
        });
        delay = 200;
        if (status === 200) job = out?.job;
      } catch (e) {
        if (e instanceof APIError && (e.status === 401 || e.status === 403)) {
          this.log.error(`hopper worker: claim refused: ${e.message}; stopping`);
          this.stop();
          return;
        }
        const wait = e instanceof APIError && e.retryAfter ? e.retryAfter * 1000 : delay;
        this.log.warn(`hopper worker: claim failed: ${(e as Error).message}; again in ${wait} ms`);
        await sleep(wait, this.stopping.signal);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
      if (job) await this.runJob(new ClaimedJob(this, job));
    }
  }

  private async runJob(job: ClaimedJob): Promise<void> {
    this.running.set(job.id, job);
    const beat = setInterval(() => {
      job.call("heartbeat", { lease_seconds: job.leaseSeconds }).catch((e: Error) => {
        if (!(e instanceof LeaseLost)) this.log.warn(`hopper worker: heartbeat of ${job.id} failed: ${e.message}`);
      });
    }, Math.max((job.leaseSeconds * 1000) / 3, 500));
    let outcome: [string, Record<string, unknown>];
    try {
      outcome = await this.outcome(job);
    } finally {
      clearInterval(beat);
    }
    try {
      try {
        await job.flush();
      } catch (e) {
        if (e instanceof LeaseLost) throw e;
        this.log.warn(`hopper worker: sending the last output of ${job.id} failed: ${(e as Error).message}`);
      }
      const out = await job.call(...outcome);
      this.log.info(`hopper worker: job ${job.id} (${job.kind}, attempt ${job.attempt}) ${out.state}`);
    } catch (e) {
      if (e instanceof LeaseLost) this.log.warn(`hopper worker: job ${job.id} attempt ${job.attempt} was lost; its outcome is dropped`);
      else this.log.error(`hopper worker: finishing ${job.id} failed: ${(e as Error).message} (its lease will expire)`);
    } finally {
      this.running.delete(job.id);
    }
  }

  /** Runs the handler and maps its outcome to a finish call. */
  private async outcome(job: ClaimedJob): Promise<[string, Record<string, unknown>]> {
    const h = this.handlers.get(job.kind);
    if (!h) return ["retry", { error: `this worker has no handler for kind ${job.kind}` }];
    try {
      const result = await h.fn(job);
      if (job.cancelled) return ["fail", { error: "cancelled" }];
      try {
        JSON.stringify(result);
      } catch (e) {
        return ["fail", { error: `the handler's result is not JSON: ${(e as Error).message}` }];
      }
      return ["succeed", { result: result ?? null }];
    } catch (e) {
      if (e instanceof Permanent) return ["fail", { error: e.message }];
      if (e instanceof RetryAfter) return ["retry", { error: e.message, after_seconds: Math.max(0, e.seconds) }];
      if (e instanceof Cancelled || e instanceof LeaseLost) return ["fail", { error: e.message }];
      if (job.cancelled) return ["fail", { error: "cancelled" }];
      this.log.error(`hopper worker: handler of ${job.kind} failed:`, e);
      return ["retry", { error: String(e instanceof Error ? `${e.name}: ${e.message}` : e).slice(0, 4000) }];
    }
  }

  /** Hands jobs still running after the grace period back, uncharged (release). */
  private async abandon(): Promise<void> {
    await Promise.all(
      [...this.running.values()].map(async (job) => {
        // Released first, then aborted: a handler woken by the abort
        // would report its own outcome (a retry) first.
        try {
          await job.call("release", {});
        } catch (e) {
          this.log.warn(`hopper worker: could not hand ${job.id} back: ${(e as Error).message}`);
        }
        job.abort(new Cancelled("the worker is stopping"));
      }),
    );
  }
}

function kindBody(name: string, o: KindOptions): Record<string, unknown> {
  const d: Record<string, unknown> = {
    name,
    queue: o.queue,
    description: o.description,
    payload_schema: o.schema,
    timeout_seconds: o.timeoutSeconds,
    max_timeout_seconds: o.maxTimeoutSeconds,
    max_attempts: o.maxAttempts,
    backoff_base_seconds: o.backoffBaseSeconds,
    backoff_cap_seconds: o.backoffCapSeconds,
    default_priority: o.defaultPriority,
    version: o.version,
    visibility: o.visibility,
  };
  for (const k of Object.keys(d)) if (d[k] === undefined) delete d[k];
  return d;
}
