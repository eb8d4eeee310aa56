// The TypeScript SDK's worker as tools/e2e TestSDKWorkers runs it: one
// kind (SDK_KIND) whose payload's mode picks what the handler does; it
// prints "EV {json}" lines the test reads.
import { Cancelled, Worker } from "../../../../sdk/typescript/dist/src/index.js";

const kind = process.env.SDK_KIND;
const worker = new Worker({
  baseUrl: process.env.HOPPER_URL,
  token: process.env.HOPPER_WORKER_TOKEN,
  concurrency: Number(process.env.SDK_CONCURRENCY ?? "1"),
  leaseSeconds: Number(process.env.SDK_LEASE ?? "2"),
  waitSeconds: 1,
  graceSeconds: Number(process.env.SDK_GRACE ?? "10"),
});
const emit = (ev) => console.log("EV " + JSON.stringify(ev));

worker.handle(
  kind,
  async (job) => {
    const { mode } = job.payload;
    emit({ event: "started", id: job.id, attempt: job.attempt, priority: job.priority, mode });
    if (mode === "stream") {
      await job.progress(50, "streaming");
      for (const chunk of job.payload.chunks) await job.output(chunk);
      await job.progress(100, "done");
      return { chunks: job.payload.chunks.length };
    }
    if (mode === "block" || (mode === "crash_once" && job.attempt === 1)) {
      // Until the test cancels the job (seen on a heartbeat) or kills
      // this process.
      await new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("not cancelled within 60 s")), 60_000);
        job.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
      });
      emit({ event: "cancel_seen", id: job.id });
      try {
        await job.progress(99, "still running?");
      } catch (e) {
        if (e instanceof Cancelled) emit({ event: "cancel_raised", id: job.id });
        throw e;
      }
      throw new Error("progress after the cancel did not throw Cancelled");
    }
    if (mode === "hold") {
      // Until the worker stops and hands the job back (its handler sees
      // the abort); a worker started with SDK_NO_HOLD runs it at once.
      if (process.env.SDK_NO_HOLD !== "1") {
        await new Promise((resolve) => {
          const t = setTimeout(resolve, 60_000);
          job.signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
        });
        emit({ event: "handed_back", id: job.id });
        throw new Error("handed back");
      }
      return { attempt: job.attempt };
    }
    if (mode.startsWith("wf_")) return workflowStep(job, mode);
    return { attempt: job.attempt, priority: job.priority };
  },
  { schema: { type: "object", required: ["mode"] }, maxAttempts: 3, backoffBaseSeconds: 0.05, backoffCapSeconds: 0.1, timeoutSeconds: 60 },
);

// The steps of the diamond workflow.py and workflow.mjs build: a list of
// numbers, their squares fanned out, a constant, and a fan-in summing
// its parents' results read through the SDK.
async function workflowStep(job, mode) {
  const wf = job.workflow;
  emit({ event: "wf_step", id: job.id, workflow: wf.id, step: wf.step, element: wf.element ?? null, index: job.payload.index ?? null });
  switch (mode) {
    case "wf_numbers":
      return { numbers: Array.from({ length: job.payload.n }, (_, i) => i + 1) };
    case "wf_square":
      return job.payload.item ** 2;
    case "wf_const":
      return { value: job.payload.value };
    case "wf_sum": {
      const parents = await job.parentResults();
      const squares = await job.parentResult("squares");
      return { sum: squares.reduce((a, b) => a + b, 0) + parents.const.value, parents: Object.keys(parents).sort(), squares };
    }
  }
  throw new Error(`unknown workflow mode ${mode}`);
}

await worker.run();
emit({ event: "stopped" });
