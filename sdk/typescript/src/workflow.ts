/**
 * Workflows in code: a builder of POST /v1/workflows's body, and the
 * types of the workflow endpoints and their event stream.
 *
 *     const wf = new Workflow("index a book")
 *       .step("split", "acme.split", { url })
 *       .step("embed", "acme.embed", { model: "small" }, { fanOutFrom: { step: "split", path: "chunks" }, maxAttempts: 5 })
 *       .step("title", "acme.title", {}, { dependsOn: ["split"] })
 *       .step("index", "acme.index", {}, { dependsOn: ["embed", "title"] });
 *     const accepted = await client.submitWorkflow(wf);
 */

export type FailurePolicy = "stop" | "continue";
export type Priority = "low" | "normal" | "high" | number;

/** One step of POST /v1/workflows's body. */
export interface WorkflowStepRequest {
  name: string;
  kind: string;
  payload?: Record<string, unknown>;
  options?: { priority?: Priority; max_attempts?: number; timeout?: string | number };
  depends_on?: string[];
  /** a literal list ({ items }) or the list at path in parent from's result */
  for_each?: { items: unknown[] } | { from: string; path: string };
}

/** POST /v1/workflows's body. */
export interface WorkflowRequest {
  name?: string;
  failure_policy?: FailurePolicy;
  idempotency_key?: string;
  steps: WorkflowStepRequest[];
}

/** What step() takes besides name, kind and payload. */
export interface StepOptions {
  /** steps that must succeed first */
  dependsOn?: string[];
  /** one job per element of this list */
  fanOut?: unknown[];
  /** one job per element of the list at path (dotted, "" for the whole result) in step's result; depends on step */
  fanOutFrom?: { step: string; path?: string };
  /** "low", "normal", "high" or 0-5 */
  priority?: Priority;
  maxAttempts?: number;
  /** "90s" or seconds */
  timeout?: string | number;
}

/** Thrown by the builder for a mistake it sees before anything is sent. */
export class WorkflowBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkflowBuildError";
  }
}

/**
 * Builds a workflow: named steps of any kinds, each run once every step
 * it depends on has succeeded (see the README's Workflows section).
 * step() checks each step as it is added (a duplicate name, a bad
 * option, a payload that is not JSON throw WorkflowBuildError at once);
 * build() checks the graph (an unknown dependency, a cycle). The gateway
 * checks the rest — kinds, payloads against their schemas, your plan's
 * bounds — and names the field it refuses.
 */
export class Workflow {
  private readonly steps: WorkflowStepRequest[] = [];
  private readonly names = new Set<string>();
  failurePolicy: FailurePolicy;
  idempotencyKey?: string;

  constructor(
    readonly name = "",
    opts: { failurePolicy?: FailurePolicy; idempotencyKey?: string } = {},
  ) {
    this.failurePolicy = opts.failurePolicy ?? "stop";
    if (this.failurePolicy !== "stop" && this.failurePolicy !== "continue") {
      throw new WorkflowBuildError(`failurePolicy ${JSON.stringify(this.failurePolicy)}: want "stop" or "continue"`);
    }
    this.idempotencyKey = opts.idempotencyKey;
  }

  /** Failure policy "continue": a failed step skips only the steps that depend on it (default "stop": cancel what has not run). */
  continueOnFailure(): this {
    this.failurePolicy = "continue";
    return this;
  }

  /**
   * Adds step name running kind with payload. Each fan-out element's job
   * gets the element as "item" and its position as "index" in its payload.
   */
  step(name: string, kind: string, payload?: Record<string, unknown>, opts: StepOptions = {}): this {
    const where = `step ${JSON.stringify(name)}`;
    if (typeof name !== "string" || !name) throw new WorkflowBuildError("a step needs a name");
    if (this.names.has(name)) throw new WorkflowBuildError(`${where}: a step of that name already exists`);
    if (typeof kind !== "string" || !kind) throw new WorkflowBuildError(`${where}: a step needs a kind`);
    if (payload !== undefined && (payload === null || typeof payload !== "object" || Array.isArray(payload))) {
      throw new WorkflowBuildError(`${where}: payload must be an object`);
    }
    const s: WorkflowStepRequest = { name, kind };
    if (payload !== undefined) s.payload = jsonCopy(payload, `${where}: payload`) as Record<string, unknown>;
    const deps: string[] = [];
    for (const d of opts.dependsOn ?? []) {
      if (d === name) throw new WorkflowBuildError(`${where}: depends on itself`);
      if (!deps.includes(d)) deps.push(d);
    }
    if (opts.fanOut !== undefined && opts.fanOutFrom !== undefined) {
      throw new WorkflowBuildError(`${where}: fanOut and fanOutFrom are exclusive`);
    }
    if (opts.fanOut !== undefined) {
      if (!Array.isArray(opts.fanOut)) throw new WorkflowBuildError(`${where}: fanOut must be an array`);
      s.for_each = { items: jsonCopy(opts.fanOut, `${where}: fanOut`) as unknown[] };
    }
    if (opts.fanOutFrom !== undefined) {
      const { step, path = "" } = opts.fanOutFrom;
      if (!step) throw new WorkflowBuildError(`${where}: fanOutFrom needs a step`);
      s.for_each = { from: step, path };
      if (!deps.includes(step)) deps.push(step);
    }
    if (deps.length) s.depends_on = deps;
    const o: NonNullable<WorkflowStepRequest["options"]> = {};
    if (opts.priority !== undefined) {
      const p = opts.priority;
      const ok = p === "low" || p === "normal" || p === "high" || (Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 5);
      if (!ok) throw new WorkflowBuildError(`${where}: priority ${JSON.stringify(p)}: want "low", "normal", "high" or 0-5`);
      o.priority = p;
    }
    if (opts.maxAttempts !== undefined) {
      if (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 1) {
        throw new WorkflowBuildError(`${where}: maxAttempts ${opts.maxAttempts}: want an integer ≥ 1`);
      }
      o.max_attempts = opts.maxAttempts;
    }
    if (opts.timeout !== undefined) {
      const t = opts.timeout;
      if (!((typeof t === "string" && t) || (typeof t === "number" && Number.isFinite(t) && t > 0))) {
        throw new WorkflowBuildError(`${where}: timeout ${JSON.stringify(t)}: want a positive number of seconds or a duration like "90s"`);
      }
      o.timeout = t;
    }
    if (Object.keys(o).length) s.options = o;
    this.names.add(name);
    this.steps.push(s);
    return this;
  }

  /** The request body (a new object each call); throws WorkflowBuildError for no steps, an unknown dependency or a cycle. */
  build(): WorkflowRequest {
    if (!this.steps.length) throw new WorkflowBuildError("a workflow needs at least one step");
    for (const s of this.steps) {
      for (const d of s.depends_on ?? []) {
        if (!this.names.has(d)) throw new WorkflowBuildError(`step ${JSON.stringify(s.name)}: depends on ${JSON.stringify(d)}, which is not a step`);
      }
    }
    const cycle = findCycle(this.steps);
    if (cycle) throw new WorkflowBuildError(`depends_on makes a cycle: ${cycle.join(" → ")}`);
    const body: WorkflowRequest = { steps: structuredClone(this.steps) };
    if (this.name) body.name = this.name;
    if (this.failurePolicy !== "stop") body.failure_policy = this.failurePolicy;
    if (this.idempotencyKey) body.idempotency_key = this.idempotencyKey;
    return body;
  }
}

/** v through JSON, refusing what JSON cannot carry (undefined, functions, NaN and infinities become null or vanish, so say so). */
function jsonCopy(v: unknown, where: string): unknown {
  let text: string;
  try {
    text = JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === "number" && !Number.isFinite(x)) throw new TypeError(`${x} is not a JSON number`);
      if (typeof x === "bigint" || typeof x === "function" || typeof x === "symbol") throw new TypeError(`a ${typeof x} is not JSON`);
      return x;
    });
  } catch (e) {
    throw new WorkflowBuildError(`${where} is not JSON: ${(e as Error).message}`);
  }
  return JSON.parse(text);
}

/** A cycle of depends_on as [a, …, a], or undefined. */
function findCycle(steps: WorkflowStepRequest[]): string[] | undefined {
  const deps = new Map(steps.map((s) => [s.name, s.depends_on ?? []]));
  const state = new Map<string, 1 | 2>(); // 1 on the path, 2 done
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 1);
    path.push(n);
    for (const d of deps.get(n) ?? []) {
      if (state.get(d) === 1) return [...path.slice(path.indexOf(d)), d];
      if (!state.has(d)) {
        const found = visit(d);
        if (found) return found;
      }
    }
    path.pop();
    state.set(n, 2);
    return undefined;
  };
  for (const s of steps) {
    if (!state.has(s.name)) {
      const found = visit(s.name);
      if (found) return found;
    }
  }
  return undefined;
}

export type WorkflowState = "running" | "succeeded" | "failed" | "cancelled";
export type StepState = "waiting" | "running" | "succeeded" | "failed" | "cancelled" | "skipped";

export interface WorkflowAccepted {
  id: string;
  state: WorkflowState;
  links?: { self?: string };
}

/** One job of a step (one per element of a fan-out). */
export interface WorkflowJob {
  id: string;
  /** position in a fan-out */
  element?: number;
  state: string;
  attempts: number;
  error?: string;
}

/** A step as GET /v1/workflows/{id} shows it; result once succeeded (a fan-out's: its elements' results in order). */
export interface WorkflowStep {
  name: string;
  kind: string;
  state: StepState;
  depends_on: string[];
  for_each?: unknown;
  jobs: WorkflowJob[];
  jobs_total: number;
  jobs_succeeded: number;
  jobs_failed: number;
  jobs_cancelled: number;
  attempts: number;
  result: unknown;
  error?: string;
  released_at: string | null;
  finished_at: string | null;
}

/** One entry of a workflow's timeline (step empty for the workflow's own). */
export interface WorkflowTimelineEvent {
  at: string;
  step?: string;
  type: string;
  error?: string;
}

/** A workflow as GET /v1/workflows/{id} shows it (a list shows it without steps and timeline). */
export interface WorkflowInfo {
  id: string;
  name: string;
  state: WorkflowState;
  failure_policy: FailurePolicy;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  steps?: WorkflowStep[];
  timeline?: WorkflowTimelineEvent[];
  [field: string]: unknown;
}

export interface WorkflowPage {
  workflows: WorkflowInfo[];
  next_cursor?: string | null;
}

export interface WorkflowListFilter {
  /** comma-separated states */
  state?: string;
  limit?: number;
  cursor?: string;
}

/** cancelWorkflow's answer: the jobs cancelled at once, and the running ones whose workers were asked to stop. */
export interface WorkflowCancelled {
  workflow: WorkflowInfo;
  cancelled_jobs: number;
  stopping_jobs: number;
}

/** retryStep's answer: the ids of the jobs queued again. */
export interface StepRetried {
  workflow: WorkflowInfo;
  jobs: string[];
}

/** A step in the event stream: its state and how its jobs ended. */
export interface WorkflowStepState {
  name: string;
  state: StepState;
  jobs_total: number;
  jobs_succeeded: number;
  jobs_failed: number;
  jobs_cancelled: number;
  error?: string;
}

/**
 * A message of GET /v1/workflows/{id}/events: "snapshot" (the workflow
 * and every step, first on each connection), "step" (the one step that
 * changed) or "workflow" (the workflow's state changed). state is the
 * workflow's.
 */
export interface WorkflowEvent {
  type: "snapshot" | "step" | "workflow";
  workflowId: string;
  state: WorkflowState;
  steps: WorkflowStepState[];
  at: string;
}

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/** Whether the workflow is over once this event arrived. */
export const workflowTerminal = (e: { state: string }): boolean => TERMINAL.has(e.state);

/** Decodes a stream message; undefined for a type this SDK does not know. */
export function workflowEvent(event: string, data: string): WorkflowEvent | undefined {
  const d = JSON.parse(data) as Record<string, unknown> & { steps?: WorkflowStepState[] };
  const base = { workflowId: String(d.workflow_id ?? ""), at: String(d.at ?? "") };
  switch (event) {
    case "snapshot":
      return { type: event, ...base, state: d.state as WorkflowState, steps: d.steps ?? [] };
    case "step": {
      const { workflow_id: _w, workflow_state, at: _a, ...step } = d;
      return { type: event, ...base, state: workflow_state as WorkflowState, steps: [step as unknown as WorkflowStepState] };
    }
    case "workflow":
      return { type: event, ...base, state: d.state as WorkflowState, steps: [] };
    default:
      return undefined;
  }
}
