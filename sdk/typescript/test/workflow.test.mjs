// Unit tests of the compiled SDK's workflow builder, workflow event
// stream and a step's parent results, against a small local HTTP server
// (the end-to-end proof against the real gateway is tools/e2e
// TestSDKWorkers).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";

import { Client, LeaseLost, Workflow, WorkflowBuildError, Worker, ClaimedJob } from "../dist/src/index.js";

const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
let server;
let base;
let streams = 0;
const posted = [];

before(async () => {
  server = http.createServer(async (req, res) => {
    const json = (code, body) => {
      res.writeHead(code, { "Content-Type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "POST" && req.url === "/v1/workflows") {
      let raw = "";
      for await (const c of req) raw += c;
      posted.push([JSON.parse(raw), req.headers["idempotency-key"]]);
      return json(202, { id: "w1", state: "running", links: { self: "/v1/workflows/w1" } });
    }
    if (req.url === "/v1/workflows/w1/events") {
      streams++;
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      const snap = { workflow_id: "w1", state: "running", at: "t", steps: [{ name: "a", state: "running", jobs_total: 1 }] };
      if (streams === 1) {
        // a snapshot and a step, then the connection closes before the end
        return res.end(sse("snapshot", snap) + sse("step", { workflow_id: "w1", workflow_state: "running", name: "a", state: "succeeded", jobs_total: 1, jobs_succeeded: 1, at: "t" }));
      }
      snap.steps[0] = { ...snap.steps[0], state: "succeeded", jobs_succeeded: 1 };
      return res.end(
        ": keepalive\n\n" +
          sse("snapshot", snap) +
          sse("future", { x: 1 }) +
          sse("step", { workflow_id: "w1", workflow_state: "succeeded", name: "b", state: "succeeded", jobs_total: 5, jobs_succeeded: 5, at: "t" }) +
          sse("workflow", { workflow_id: "w1", state: "succeeded", at: "t" }),
      );
    }
    if (req.url === "/v1/workflows/w1") {
      return json(200, { id: "w1", name: "n", state: "succeeded", failure_policy: "stop", steps: [{ name: "b", state: "succeeded", result: [4] }] });
    }
    if (req.url.startsWith("/v1/worker/jobs/j1/parents")) {
      const q = new URL(req.url, "http://x").searchParams;
      if (q.get("attempt") !== "1") return json(409, { error: { code: "lease_lost", message: "gone" } });
      const parents = { a: { items: [1, 2] }, b: [10, 20] };
      return json(200, { workflow: { id: "w1", step: "c" }, parents: q.get("step") === "b" ? { b: parents.b } : parents });
    }
    json(404, { error: { code: "not_found", message: "no" } });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => server.close());

test("the builder makes the request body", () => {
  const body = new Workflow("diamond", { failurePolicy: "continue", idempotencyKey: "k1" })
    .step("a", "x.split", { n: 5 })
    .step("b", "x.square", { m: 1 }, { fanOutFrom: { step: "a", path: "numbers" }, priority: "low", maxAttempts: 5, timeout: "30s" })
    .step("c", "x.const", undefined, { fanOut: [1, { two: 2 }], priority: 4, timeout: 2.5, dependsOn: ["a"] })
    .step("d", "x.sum", {}, { dependsOn: ["b", "c", "b"] })
    .build();
  assert.deepEqual(body, {
    name: "diamond",
    failure_policy: "continue",
    idempotency_key: "k1",
    steps: [
      { name: "a", kind: "x.split", payload: { n: 5 } },
      { name: "b", kind: "x.square", payload: { m: 1 }, for_each: { from: "a", path: "numbers" }, depends_on: ["a"], options: { priority: "low", max_attempts: 5, timeout: "30s" } },
      { name: "c", kind: "x.const", for_each: { items: [1, { two: 2 }] }, depends_on: ["a"], options: { priority: 4, timeout: 2.5 } },
      { name: "d", kind: "x.sum", payload: {}, depends_on: ["b", "c"] },
    ],
  });
  const wf = new Workflow().step("a", "x.a", { n: [1] });
  wf.build().steps[0].payload.n.push(2);
  assert.deepEqual(wf.build(), { steps: [{ name: "a", kind: "x.a", payload: { n: [1] } }] }, "build returns a copy");
  assert.equal(new Workflow().continueOnFailure().step("a", "x.a").build().failure_policy, "continue");
});

test("mistakes are caught before sending", () => {
  const cases = {
    "a step needs a name": () => new Workflow().step("", "x.a"),
    "already exists": () => new Workflow().step("a", "x.a").step("a", "x.b"),
    "needs a kind": () => new Workflow().step("a", ""),
    "payload must be an object": () => new Workflow().step("a", "x.a", [1]),
    "payload is not JSON": () => new Workflow().step("a", "x.a", { f: NaN }),
    "depends on itself": () => new Workflow().step("a", "x.a", {}, { dependsOn: ["a"] }),
    exclusive: () => new Workflow().step("a", "x.a", {}, { fanOut: [1], fanOutFrom: { step: "b" } }),
    "fanOut must be an array": () => new Workflow().step("a", "x.a", {}, { fanOut: "abc" }),
    "fanOut is not JSON": () => new Workflow().step("a", "x.a", {}, { fanOut: [10n] }),
    "priority 7": () => new Workflow().step("a", "x.a", {}, { priority: 7 }),
    'priority "urgent"': () => new Workflow().step("a", "x.a", {}, { priority: "urgent" }),
    "maxAttempts 0": () => new Workflow().step("a", "x.a", {}, { maxAttempts: 0 }),
    "timeout -1": () => new Workflow().step("a", "x.a", {}, { timeout: -1 }),
    failurePolicy: () => new Workflow("", { failurePolicy: "ignore" }),
    "at least one step": () => new Workflow().build(),
    'depends on "nope", which is not a step': () => new Workflow().step("a", "x.a", {}, { dependsOn: ["nope"] }).build(),
    'depends on "z", which is not a step': () => new Workflow().step("a", "x.a", {}, { fanOutFrom: { step: "z", path: "p" } }).build(),
    "cycle: a → c → b → a": () =>
      new Workflow().step("a", "x.a", {}, { dependsOn: ["c"] }).step("b", "x.b", {}, { dependsOn: ["a"] }).step("c", "x.c", {}, { dependsOn: ["b"] }).build(),
  };
  for (const [want, make] of Object.entries(cases)) {
    assert.throws(make, (e) => e instanceof WorkflowBuildError && e.message.includes(want), want);
  }
});

test("submitWorkflow sends the built body; an invalid one is never sent", async () => {
  const client = new Client({ baseUrl: base, apiKey: "key" });
  const wf = new Workflow("n").step("a", "x.a");
  const acc = await client.submitWorkflow(wf, { idempotencyKey: "idem" });
  assert.deepEqual([acc.id, acc.state], ["w1", "running"]);
  assert.deepEqual(posted.at(-1), [wf.build(), "idem"]);
  await assert.rejects(client.submitWorkflow(new Workflow().step("a", "x.a", {}, { dependsOn: ["b"] })), WorkflowBuildError);
  assert.equal(posted.length, 1);
});

test("workflowEvents reconnects with a fresh snapshot until the workflow is over", async () => {
  const client = new Client({ baseUrl: base, apiKey: "key" });
  streams = 0;
  const evs = [];
  for await (const e of client.workflowEvents("w1")) evs.push(e);
  assert.deepEqual(evs.map((e) => e.type), ["snapshot", "step", "snapshot", "step", "workflow"]);
  assert.equal(streams, 2);
  assert.equal(evs[1].steps[0].name, "a");
  assert.equal(evs[2].steps[0].state, "succeeded", "the second snapshot is fresh");
  assert.equal(evs[3].state, "succeeded", "a step event may carry the terminal state; the workflow event still follows");
  assert.deepEqual([evs[4].workflowId, evs[4].state], ["w1", "succeeded"]);
  const wf = await client.waitWorkflow("w1", { timeoutMs: 5000 });
  assert.deepEqual(wf.steps[0].result, [4]);
});

test("a step reads its parents' results", async () => {
  const worker = new Worker({ baseUrl: base, token: "hwt_x" });
  const claimed = (attempt, workflow) => new ClaimedJob(worker, { id: "j1", kind: "x.sum", attempt, payload: {}, lease_seconds: 30, workflow });
  const job = claimed(1, { id: "w1", step: "c" });
  assert.deepEqual(job.workflow, { id: "w1", step: "c" });
  assert.deepEqual(await job.parentResults(), { a: { items: [1, 2] }, b: [10, 20] });
  assert.deepEqual(await job.parentResult("b"), [10, 20]);
  await assert.rejects(job.parentResult("zzz"), /not a parent/);
  assert.deepEqual(await claimed(1, undefined).parentResults(), {}, "outside a workflow there are none");
  const lost = claimed(2, { id: "w1", step: "c" });
  await assert.rejects(lost.parentResults(), LeaseLost);
  assert.ok(lost.leaseLost);
});
