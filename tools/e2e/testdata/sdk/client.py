"""The Python SDK's client as tools/e2e TestSDKWorkers runs it: submits a
streaming job of kind argv[1] with chunks argv[2] (JSON), follows its
output (sync and asyncio) and events, and prints what it saw as JSON."""

import asyncio
import json
import os
import sys

from hopper_client import AsyncClient, Client

kind, chunks = sys.argv[1], json.loads(sys.argv[2])
client = Client(os.environ["HOPPER_URL"], os.environ["HOPPER_API_KEY"])
accepted = client.submit(kind, {"mode": "stream", "chunks": chunks}, priority="high")
seqs, texts = [], []
for chunk in client.output(accepted.id):
    seqs.append(chunk.seq)
    texts.append(chunk.text)
job = client.wait(accepted.id, timeout=30)


async def follow_async():
    ac = AsyncClient(os.environ["HOPPER_URL"], os.environ["HOPPER_API_KEY"])
    return [c.text async for c in ac.output(accepted.id)], [e.type async for e in ac.events(accepted.id)]

async_texts, event_types = asyncio.run(follow_async())
print(json.dumps({
    "id": accepted.id, "seqs": seqs, "texts": texts, "async_texts": async_texts, "events": event_types,
    "state": job.state, "progress": job.progress, "status_message": job.status_message, "result": job.result,
    "text": client.output_text(accepted.id).text,
    "listed": any(j.id == accepted.id for j in client.list(kind=kind).jobs),
}))
