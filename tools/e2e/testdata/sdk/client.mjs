// The TypeScript SDK's client as tools/e2e TestSDKWorkers runs it:
// submits a streaming job of kind argv[2] with chunks argv[3] (JSON),
// follows its output and events, and prints what it saw as JSON.
import { Client } from "../../../../sdk/typescript/dist/src/index.js";

const [kind, chunksJSON] = process.argv.slice(2);
const client = new Client({ baseUrl: process.env.HOPPER_URL, apiKey: process.env.HOPPER_API_KEY });
const accepted = await client.submit({ kind, payload: { mode: "stream", chunks: JSON.parse(chunksJSON) }, priority: "high" });
const seqs = [];
const texts = [];
for await (const chunk of client.output(accepted.id)) {
  seqs.push(chunk.seq);
  texts.push(chunk.text);
}
const job = await client.wait(accepted.id, { timeoutMs: 30_000 });
const events = [];
for await (const e of client.events(accepted.id)) events.push(e.type);
const page = await client.list({ kind });
console.log(
  JSON.stringify({
    id: accepted.id,
    seqs,
    texts,
    async_texts: texts,
    events,
    state: job.state,
    progress: job.progress,
    status_message: job.status_message,
    result: job.result,
    text: (await client.outputText(accepted.id)).text,
    listed: page.jobs.some((j) => j.id === accepted.id),
  }),
);
