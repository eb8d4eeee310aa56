/** The API-key client: submit, read, wait, list, cancel, retry, follow. */

import { APIError, TransportError } from "./errors.js";
import { type SSEMessage, Transport, anySignal, seg, sleep } from "./http.js";
import {
  type StepRetried,
  Workflow,
  type WorkflowAccepted,
  type WorkflowCancelled,
  type WorkflowEvent,
  type WorkflowInfo,
  type WorkflowListFilter,
  type WorkflowPage,
  type WorkflowRequest,
  workflowEvent,
  workflowTerminal,
} from "./workflow.js";

export type JobState = "scheduled" | "queued" | "running" | "retrying" | "succeeded" | "failed" | "cancelled";
export const TERMINAL_STATES: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);

/** What to submit: POST /v1/jobs's body. */
export interface SubmitRequest {
  kind: string;
  payload?: Record<string, unknown>;
  /** "low", "normal", "high" or 0-5 */
  priority?: "low" | "normal" | "high" | number;
  /** RFC 3339; a future time schedules the job */
  run_at?: string;
  max_attempts?: number;
  /** "90s" or seconds */
  timeout?: string | number;
  webhook_url?: string;
}

export interface Accepted {
  id: string;
  state: JobState;
  links?: { self?: string };
}

export interface TimelineEvent {
  type: string;
  state: JobState;
  attempt: number;
  at: string;
  message?: string | null;
}

/** A job as GET /v1/jobs/{id} shows it. */
export interface Job {
  id: string;
  kind: string;
  queue: string;
  state: JobState;
  priority: number;
  progress: number;
  status_message: string;
  payload: unknown;
  result?: unknown;
  error?: string | null;
  attempts: number;
  max_attempts: number;
  cancel_requested: boolean;
  created_at: string;
  started_at?: string | null;
  finished_at?: string | null;
  events?: TimelineEvent[];
  [field: string]: unknown;
}

export interface JobPage {
  jobs: Job[];
  next_cursor?: string | null;
}

/** A message of the events stream: a timeline event (id set) or a progress change (type "progress"). */
export interface JobEvent {
  type: string;
  id?: string;
  state: JobState;
  attempt?: number;
  message?: string | null;
  progress?: number;
  status_message?: string;
  at: string;
}

/** One output chunk; seq runs 1, 2, … across attempts. */
export interface OutputChunk {
  seq: number;
  attempt: number;
  text: string;
}

export interface OutputText {
  job_id: string;
  state: JobState;
  attempt: number;
  text: string;
  last_seq: number;
}

export interface ClientOptions {
  /** default HOPPER_URL, else http://127.0.0.1:8080 */
  baseUrl?: string;
  /** default HOPPER_API_KEY */
  apiKey?: string;
  timeoutMs?: number;
}

export interface ListFilter {
  /** comma-separated states */
  state?: string;
  kind?: string;
  limit?: number;
  cursor?: string;
}

const MAX_RECONNECTS = 10;

/** A client of the gateway's job API, authenticated by an API key. */
export class Client {
  private readonly t: Transport;

  constructor(opts: ClientOptions = {}) {
    this.t = new Transport(
      opts.baseUrl ?? process.env.HOPPER_URL ?? "http://127.0.0.1:8080",
      opts.apiKey ?? process.env.HOPPER_API_KEY ?? "",
      opts.timeoutMs,
    );
  }

  /** Submits one job; the same idempotencyKey returns the same job. */
  async submit(req: SubmitRequest, opts: { idempotencyKey?: string } = {}): Promise<Accepted> {
    const headers = opts.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : undefined;
    const { body } = await this.t.call<Accepted>("POST", "/v1/jobs", { payload: {}, ...req }, { headers });
    return body!;
  }

  /** Submits up to 1,000 jobs, all or none. */
  async submitBatch(jobs: SubmitRequest[]): Promise<Accepted[]> {
    const { body } = await this.t.call<{ jobs: Accepted[] }>("POST", "/v1/jobs/batch", { jobs: jobs.map((j) => ({ payload: {}, ...j })) });
    return body!.jobs;
  }

  /** The job with its timeline. */
  async get(id: string): Promise<Job> {
    return (await this.t.call<Job>("GET", `/v1/jobs/${seg(id)}`)).body!;
  }

  /** A page of your jobs, newest first; pass next_cursor as cursor for the next. */
  async list(filter: ListFilter = {}): Promise<JobPage> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== "") q.set(k, String(v));
    const qs = q.toString();
    return (await this.t.call<JobPage>("GET", "/v1/jobs" + (qs ? "?" + qs : ""))).body!;
  }

  /** Cancels a waiting job at once; a running one is flagged and its handler told. */
  async cancel(id: string): Promise<Job> {
    return (await this.t.call<Job>("DELETE", `/v1/jobs/${seg(id)}`)).body!;
  }

  /** Runs a failed or cancelled job again. */
  async retry(id: string): Promise<Job> {
    return (await this.t.call<Job>("POST", `/v1/jobs/${seg(id)}/retry`)).body!;
  }

  /** Follows the job until it ends and returns it (rejects after timeoutMs or on signal). */
  async wait(id: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Job> {
    const signals = [opts.signal, opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const signal = signals.length ? anySignal(signals) : undefined;
    for (;;) {
      const job = await this.get(id);
      if (TERMINAL_STATES.has(job.state)) return job;
      signal?.throwIfAborted();
      try {
        for await (const ev of this.events(id, { signal })) {
          if (TERMINAL_STATES.has(ev.state)) break;
        }
      } catch (e) {
        signal?.throwIfAborted();
        if (!(e instanceof TransportError)) throw e;
        await sleep(200, signal);
      }
    }
  }

  /**
   * Follows the job's events (timeline and progress) until its terminal
   * event; a broken connection resumes with Last-Event-ID.
   */
  async *events(id: string, opts: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
    const messages = resume(
      (last) => this.t.stream(`/v1/jobs/${seg(id)}/events`, last, opts.signal),
      opts.lastEventId,
      (m) => TERMINAL_STATES.has(m.event),
      async () => TERMINAL_STATES.has((await this.get(id)).state),
      opts.signal,
    );
    for await (const m of messages) {
      const d = JSON.parse(m.data) as Omit<JobEvent, "type" | "id">;
      yield { ...d, type: m.event, id: m.id };
    }
  }

  /** Follows the job's output chunks in order until the job ended and all were sent. */
  async *output(id: string, opts: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncGenerator<OutputChunk> {
    const messages = resume(
      (last) => this.t.stream(`/v1/jobs/${seg(id)}/output`, last, opts.signal),
      opts.lastEventId,
      (m) => m.event === "end",
      undefined,
      opts.signal,
    );
    for await (const m of messages) {
      if (m.event === "output") yield JSON.parse(m.data) as OutputChunk;
    }
  }

  /** The job's whole output so far (the last attempt's chunks joined). */
  async outputText(id: string): Promise<OutputText> {
    return (await this.t.call<OutputText>("GET", `/v1/jobs/${seg(id)}/output?format=text`)).body!;
  }

  // Workflows: see the README's Workflows section and Workflow.

  /**
   * Submits a workflow (a Workflow, checked by its build(), or a request
   * body); its root steps' jobs are queued when it resolves. A graph the
   * gateway refuses (a cycle, an unknown kind, a payload its kind's
   * schema refuses) rejects with APIError 422 naming the field, e.g.
   * steps[2].payload.board. The same idempotency key (here or the
   * builder's) answers the workflow it created.
   */
  async submitWorkflow(workflow: Workflow | WorkflowRequest, opts: { idempotencyKey?: string } = {}): Promise<WorkflowAccepted> {
    const body = workflow instanceof Workflow ? workflow.build() : workflow;
    const headers = opts.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : undefined;
    return (await this.t.call<WorkflowAccepted>("POST", "/v1/workflows", body, { headers })).body!;
  }

  /** The workflow: its state, every step's state, jobs and (once succeeded) result, and its timeline. */
  async getWorkflow(id: string): Promise<WorkflowInfo> {
    return (await this.t.call<WorkflowInfo>("GET", `/v1/workflows/${seg(id)}`)).body!;
  }

  /** A page of your workflows, newest first; pass next_cursor as cursor for the next. */
  async listWorkflows(filter: WorkflowListFilter = {}): Promise<WorkflowPage> {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== "") q.set(k, String(v));
    const qs = q.toString();
    return (await this.t.call<WorkflowPage>("GET", "/v1/workflows" + (qs ? "?" + qs : ""))).body!;
  }

  /** Cancels the steps waiting and queued at once, and running ones through their workers. */
  async cancelWorkflow(id: string): Promise<WorkflowCancelled> {
    return (await this.t.call<WorkflowCancelled>("POST", `/v1/workflows/${seg(id)}/cancel`)).body!;
  }

  /** Runs a failed (or cancelled) step again and resumes the workflow: the steps its failure stopped wait again. */
  async retryStep(id: string, step: string): Promise<StepRetried> {
    return (await this.t.call<StepRetried>("POST", `/v1/workflows/${seg(id)}/steps/${seg(step)}/retry`)).body!;
  }

  /**
   * Follows the workflow live until it is over: a snapshot first, then
   * each step's change and the workflow's state changes, the last one
   * terminal. A broken connection is reopened and starts with a fresh
   * snapshot: treat a snapshot as "this is everything now".
   */
  async *workflowEvents(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<WorkflowEvent> {
    // A step event may carry the terminal state already; the workflow
    // event follows it and is the last.
    const over = (m: SSEMessage) => (m.event === "snapshot" || m.event === "workflow") && workflowTerminal(JSON.parse(m.data) as { state: string });
    const messages = resume(() => this.t.stream(`/v1/workflows/${seg(id)}/events`, undefined, opts.signal), undefined, over, undefined, opts.signal);
    for await (const m of messages) {
      const ev = workflowEvent(m.event, m.data);
      if (ev) yield ev; // else a newer gateway's message
    }
  }

  /** Follows the workflow until it is over and returns it (rejects after timeoutMs or on signal). */
  async waitWorkflow(id: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<WorkflowInfo> {
    const signals = [opts.signal, opts.timeoutMs ? AbortSignal.timeout(opts.timeoutMs) : undefined].filter((s): s is AbortSignal => !!s);
    const signal = signals.length ? anySignal(signals) : undefined;
    for (;;) {
      const wf = await this.getWorkflow(id);
      if (workflowTerminal(wf)) return wf;
      signal?.throwIfAborted();
      try {
        for await (const ev of this.workflowEvents(id, { signal })) {
          if (workflowTerminal(ev) && ev.type !== "step") break;
        }
      } catch (e) {
        signal?.throwIfAborted();
        if (!(e instanceof TransportError)) throw e;
        await sleep(200, signal);
      }
    }
  }
}

/**
 * Yields a stream's messages, reconnecting with Last-Event-ID when it
 * breaks or closes before a message for which end is true; closedDone
 * tells whether a stream the server closed had nothing more to send.
 */
async function* resume(
  open: (last?: string) => AsyncGenerator<SSEMessage>,
  last: string | undefined,
  end: (m: SSEMessage) => boolean,
  closedDone: (() => Promise<boolean>) | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<SSEMessage> {
  let failures = 0;
  for (;;) {
    try {
      for await (const m of open(last)) {
        failures = 0;
        if (m.id) last = m.id;
        yield m;
        if (end(m)) return;
      }
      if (closedDone && (await closedDone())) return;
      throw new TransportError("the stream closed before its end");
    } catch (e) {
      signal?.throwIfAborted();
      const retryable = e instanceof TransportError || (e instanceof APIError && e.retryable);
      if (!retryable || ++failures > MAX_RECONNECTS) throw e;
      const after = e instanceof APIError && e.retryAfter ? e.retryAfter * 1000 : Math.min(100 * 2 ** failures, 5000);
      await sleep(after, signal);
    }
  }
}
