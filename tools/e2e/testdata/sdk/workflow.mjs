// The TypeScript SDK's workflow client as tools/e2e TestSDKWorkers runs
// it: builds a diamond of kind argv[2] — numbers → squares (a fan-out
// over the numbers) and const → sum (reading both) — checks that a
// mistake is caught before sending, submits it, follows its events to
// the end and prints what it saw as JSON.
import { Client, Workflow, WorkflowBuildError } from "../../../../sdk/typescript/dist/src/index.js";

const [kind, n] = [process.argv[2], Number(process.argv[3])];
const client = new Client({ baseUrl: process.env.HOPPER_URL, apiKey: process.env.HOPPER_API_KEY });
const diamond = () =>
  new Workflow("typescript sdk diamond")
    .step("numbers", kind, { mode: "wf_numbers", n })
    .step("squares", kind, { mode: "wf_square" }, { fanOutFrom: { step: "numbers", path: "numbers" }, maxAttempts: 2 })
    .step("const", kind, { mode: "wf_const", value: 1000 }, { dependsOn: ["numbers"], priority: "high", timeout: "30s" })
    .step("sum", kind, { mode: "wf_sum" }, { dependsOn: ["squares", "const"] });

let localError = "";
try {
  diamond().step("late", kind, { mode: "wf_const", value: 1 }, { dependsOn: ["nope"] }).build();
} catch (e) {
  if (!(e instanceof WorkflowBuildError)) throw e;
  localError = e.message;
}

const accepted = await client.submitWorkflow(diamond());
const events = [];
for await (const ev of client.workflowEvents(accepted.id)) {
  events.push({ type: ev.type, state: ev.state, steps: Object.fromEntries(ev.steps.map((s) => [s.name, s.state])) });
}
const wf = await client.waitWorkflow(accepted.id, { timeoutMs: 30_000 });
const listed = (await client.listWorkflows({ state: "succeeded" })).workflows.some((w) => w.id === accepted.id);
console.log(
  JSON.stringify({
    id: accepted.id,
    local_error: localError,
    events,
    state: wf.state,
    async_state: (await client.getWorkflow(accepted.id)).state,
    listed,
    steps: Object.fromEntries(wf.steps.map((s) => [s.name, { state: s.state, jobs: s.jobs_total, result: s.result }])),
  }),
);
