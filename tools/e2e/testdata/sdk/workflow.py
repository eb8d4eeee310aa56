"""The Python SDK's workflow client as tools/e2e TestSDKWorkers runs it:
builds a diamond of kind argv[1] — numbers → squares (a fan-out over
the numbers) and const → sum (reading both) — checks that a mistake is
caught before sending, submits it, follows its events to the end and
prints what it saw as JSON."""

import asyncio
import json
import os
import sys

from hopper_client import AsyncClient, Client, Workflow

kind, n = sys.argv[1], int(sys.argv[2])
client = Client(os.environ["HOPPER_URL"], os.environ["HOPPER_API_KEY"])


def diamond():
    return (Workflow("python sdk diamond")
            .step("numbers", kind, {"mode": "wf_numbers", "n": n})
            .step("squares", kind, {"mode": "wf_square"}, fan_out_from=("numbers", "numbers"), max_attempts=2)
            .step("const", kind, {"mode": "wf_const", "value": 1000}, depends_on=["numbers"], priority="high",
                  timeout="30s")
            .step("sum", kind, {"mode": "wf_sum"}, depends_on=["squares", "const"]))


local_error = ""
try:
    diamond().step("late", kind, {"mode": "wf_const", "value": 1}, depends_on=["nope"]).build()
except ValueError as e:
    local_error = str(e)

accepted = client.submit_workflow(diamond())
events = [{"type": ev.type, "state": ev.state, "steps": {s.name: s.state for s in ev.steps}}
          for ev in client.workflow_events(accepted.id)]
wf = client.wait_workflow(accepted.id, timeout=30)


async def async_view():
    ac = AsyncClient(os.environ["HOPPER_URL"], os.environ["HOPPER_API_KEY"])
    return (await ac.get_workflow(accepted.id)).state, (await ac.list_workflows(state="succeeded")).workflows

async_state, listed = asyncio.run(async_view())
print(json.dumps({
    "id": accepted.id, "local_error": local_error, "events": events, "state": wf.state,
    "async_state": async_state, "listed": any(w.id == accepted.id for w in listed),
    "steps": {s.name: {"state": s.state, "jobs": s.jobs_total, "result": s.result} for s in wf.steps},
}))
