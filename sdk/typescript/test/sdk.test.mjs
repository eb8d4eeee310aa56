// Unit tests of the compiled SDK against a small local HTTP server (the
// end-to-end proof against the real gateway is tools/e2e TestSDKWorkers).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";

import { APIError, Client, splitChunks } from "../dist/src/index.js";
import { MAX_CHUNK_BYTES as MAX_CHUNK_BYTES_FOR_TEST } from "../dist/src/worker.js";

let server;
let client;
const seenLastIds = [];

before(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/v1/jobs/j1/output") {
      const last = req.headers["last-event-id"];
      seenLastIds.push(last);
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      if (!last) {
        // one chunk, then the connection closes before the end
        res.end('id: 1\nevent: output\ndata: {"seq":1,"attempt":1,"text":"He"}\n\n');
        return;
      }
      res.end(': keepalive\n\nid: 2\nevent: output\ndata: {"seq":2,"attempt":1,"text":"llo"}\n\nevent: end\ndata: {"job_id":"j1","state":"succeeded","last_seq":2}\n\n');
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: "job not found", details: { x: 1 } } }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  client = new Client({ baseUrl: `http://127.0.0.1:${server.address().port}`, apiKey: "key" });
});

after(() => server.close());

test("output resumes with Last-Event-ID", async () => {
  const got = [];
  for await (const c of client.output("j1")) got.push(c);
  assert.deepEqual(got.map((c) => c.text), ["He", "llo"]);
  assert.deepEqual(seenLastIds, [undefined, "1"]);
});

test("API errors carry status, code, message and details", async () => {
  await assert.rejects(client.get("nope"), (e) => {
    assert.ok(e instanceof APIError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "not_found");
    assert.deepEqual(e.details, { x: 1 });
    assert.equal(e.retryable, false);
    return true;
  });
});

test("splitChunks cuts at 16 KiB on code points", () => {
  for (const [text, want] of [["", 0], ["abc", 1], ["é".repeat(MAX_CHUNK_BYTES_FOR_TEST), 2], ["x".repeat(MAX_CHUNK_BYTES_FOR_TEST * 2 + 1), 3]]) {
    const parts = splitChunks(text);
    assert.equal(parts.length, want);
    assert.equal(parts.join(""), text);
    for (const p of parts) assert.ok(new TextEncoder().encode(p).length <= MAX_CHUNK_BYTES_FOR_TEST);
  }
});
