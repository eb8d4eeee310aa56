/**
 * Hopper's TypeScript SDK: a client for the job API (API key) and a
 * worker for the pull protocol (worker token). No runtime dependencies;
 * Node 20+ (global fetch).
 */
export { VERSION } from "./version.js";
export { APIError, TransportError, Permanent, RetryAfter, Cancelled, LeaseLost } from "./errors.js";
export {
  Client,
  TERMINAL_STATES,
  type ClientOptions,
  type SubmitRequest,
  type Accepted,
  type Job,
  type JobState,
  type JobPage,
  type JobEvent,
  type TimelineEvent,
  type OutputChunk,
  type OutputText,
  type ListFilter,
} from "./client.js";
export { Worker, ClaimedJob, splitChunks, type Handler, type KindOptions, type WorkerOptions, type WorkflowRef } from "./worker.js";
export {
  Workflow,
  WorkflowBuildError,
  type FailurePolicy,
  type Priority,
  type StepOptions,
  type WorkflowRequest,
  type WorkflowStepRequest,
  type WorkflowState,
  type StepState,
  type WorkflowAccepted,
  type WorkflowInfo,
  type WorkflowStep,
  type WorkflowJob,
  type WorkflowTimelineEvent,
  type WorkflowPage,
  type WorkflowListFilter,
  type WorkflowCancelled,
  type StepRetried,
  type WorkflowEvent,
  type WorkflowStepState,
} from "./workflow.js";
