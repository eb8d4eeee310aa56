"""Unit tests of the workflow builder, the workflow event stream and a
step's parent results, against a small local HTTP server (the end-to-end
proof against the real gateway is tools/e2e TestSDKWorkers)."""

import asyncio
import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hopper_client import AsyncClient, Client, LeaseLost, Worker, Workflow
from hopper_client.worker import ClaimedJob


def _sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    streams = 0
    posted = []

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
        if self.path == "/v1/workflows":
            _Handler.posted.append((body, self.headers.get("Idempotency-Key")))
            self._json(202, {"id": "w1", "state": "running", "links": {"self": "/v1/workflows/w1"}})
            return
        self._json(404, {"error": {"code": "not_found", "message": "no"}})

    def do_GET(self):
        if self.path == "/v1/workflows/w1/events":
            _Handler.streams += 1
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            snap = {"workflow_id": "w1", "state": "running", "at": "t",
                    "steps": [{"name": "a", "state": "running", "jobs_total": 1}]}
            if _Handler.streams == 1:
                # a snapshot and a step, then the connection breaks
                self.wfile.write(_sse("snapshot", snap) + _sse("step", {
                    "workflow_id": "w1", "workflow_state": "running", "name": "a", "state": "succeeded",
                    "jobs_total": 1, "jobs_succeeded": 1, "at": "t"}))
                self.wfile.flush()
                self.close_connection = True
                return
            snap["steps"][0].update(state="succeeded", jobs_succeeded=1)
            self.wfile.write(b": keepalive\n\n" + _sse("snapshot", snap) + _sse("future", {"x": 1}) + _sse("step", {
                "workflow_id": "w1", "workflow_state": "succeeded", "name": "b", "state": "succeeded",
                "jobs_total": 5, "jobs_succeeded": 5, "at": "t"}) + _sse("workflow", {
                    "workflow_id": "w1", "state": "succeeded", "at": "t"}))
            return
        if self.path == "/v1/workflows/w1":
            self._json(200, {"id": "w1", "name": "n", "state": "succeeded", "failure_policy": "stop",
                             "steps": [{"name": "b", "kind": "k", "state": "succeeded", "depends_on": ["a"],
                                        "jobs": [{"id": "j1", "element": 0, "state": "succeeded", "attempts": 1}],
                                        "jobs_total": 1, "jobs_succeeded": 1, "result": [4]}],
                             "timeline": [{"at": "t", "type": "created"}]})
            return
        if self.path.startswith("/v1/worker/jobs/j1/parents"):
            if "attempt=1" not in self.path:
                self._json(409, {"error": {"code": "lease_lost", "message": "gone"}})
                return
            parents = {"a": {"items": [1, 2]}, "b": [10, 20]}
            if "step=b" in self.path:
                parents = {"b": parents["b"]}
            self._json(200, {"workflow": {"id": "w1", "step": "c"}, "parents": parents})
            return
        self._json(404, {"error": {"code": "not_found", "message": "no"}})


class WorkflowBuilderTest(unittest.TestCase):
    def test_diamond_with_fan_out(self):
        body = (Workflow("diamond", failure_policy="continue", idempotency_key="k1")
                .step("a", "x.split", {"n": 5})
                .step("b", "x.square", {"m": 1}, fan_out_from=("a", "numbers"), priority="low", max_attempts=5,
                      timeout="30s")
                .step("c", "x.const", fan_out=[1, {"two": 2}], priority=4, timeout=2.5, depends_on="a")
                .step("d", "x.sum", depends_on=["b", "c", "b"])
                .build())
        self.assertEqual(body, {
            "name": "diamond", "failure_policy": "continue", "idempotency_key": "k1",
            "steps": [
                {"name": "a", "kind": "x.split", "payload": {"n": 5}},
                {"name": "b", "kind": "x.square", "payload": {"m": 1}, "for_each": {"from": "a", "path": "numbers"},
                 "depends_on": ["a"], "options": {"priority": "low", "max_attempts": 5, "timeout": "30s"}},
                {"name": "c", "kind": "x.const", "for_each": {"items": [1, {"two": 2}]}, "depends_on": ["a"],
                 "options": {"priority": 4, "timeout": 2.5}},
                {"name": "d", "kind": "x.sum", "depends_on": ["b", "c"]},
            ]})

    def test_build_returns_a_copy_and_defaults_stay_out(self):
        wf = Workflow().step("a", "x.a", {"n": [1]})
        body = wf.build()
        body["steps"][0]["payload"]["n"].append(2)
        self.assertEqual(wf.build(), {"steps": [{"name": "a", "kind": "x.a", "payload": {"n": [1]}}]})
        self.assertEqual(Workflow().continue_on_failure().step("a", "x.a").build()["failure_policy"], "continue")

    def test_mistakes_are_caught_before_sending(self):
        cases = {
            "a step needs a name": lambda: Workflow().step("", "x.a"),
            "already exists": lambda: Workflow().step("a", "x.a").step("a", "x.b"),
            "needs a kind": lambda: Workflow().step("a", ""),
            "payload must be a dict": lambda: Workflow().step("a", "x.a", [1]),
            "payload is not JSON": lambda: Workflow().step("a", "x.a", {"f": float("nan")}),
            "depends on itself": lambda: Workflow().step("a", "x.a", depends_on=["a"]),
            "exclusive": lambda: Workflow().step("a", "x.a", fan_out=[1], fan_out_from=("b", "")),
            "fan_out must be a list": lambda: Workflow().step("a", "x.a", fan_out="abc"),
            "fan_out is not JSON": lambda: Workflow().step("a", "x.a", fan_out=[object()]),
            "priority 7": lambda: Workflow().step("a", "x.a", priority=7),
            "priority 'urgent'": lambda: Workflow().step("a", "x.a", priority="urgent"),
            "max_attempts 0": lambda: Workflow().step("a", "x.a", max_attempts=0),
            "timeout -1": lambda: Workflow().step("a", "x.a", timeout=-1),
            "failure_policy": lambda: Workflow(failure_policy="ignore"),
            "at least one step": lambda: Workflow().build(),
            "depends on 'nope', which is not a step": lambda: Workflow().step("a", "x.a", depends_on=["nope"]).build(),
            "depends on 'z', which is not a step": lambda: Workflow().step("a", "x.a", fan_out_from=("z", "p")).build(),
            "cycle: a → c → b → a": lambda: (Workflow().step("a", "x.a", depends_on=["c"])
                                             .step("b", "x.b", depends_on=["a"])
                                             .step("c", "x.c", depends_on=["b"]).build()),
        }
        for want, make in cases.items():
            with self.subTest(want):
                with self.assertRaises(ValueError) as cm:
                    make()
                self.assertIn(want, str(cm.exception))


class WorkflowClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=cls.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.srv.server_address[1]}"
        cls.client = Client(cls.base, "key")

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()

    def test_submit_sends_the_built_body(self):
        wf = Workflow("n").step("a", "x.a")
        acc = self.client.submit_workflow(wf, idempotency_key="idem")
        self.assertEqual((acc.id, acc.state), ("w1", "running"))
        self.assertEqual(_Handler.posted[-1], (wf.build(), "idem"))
        with self.assertRaises(ValueError):
            self.client.submit_workflow(Workflow().step("a", "x.a", depends_on=["b"]))
        self.assertEqual(len(_Handler.posted), 1, "an invalid workflow is never sent")

    def test_get_is_typed(self):
        wf = self.client.get_workflow("w1")
        self.assertTrue(wf.terminal)
        self.assertEqual(wf.step("b").result, [4])
        self.assertEqual(wf.step("b").jobs[0].element, 0)
        self.assertEqual(wf.timeline[0].type, "created")

    def test_events_reconnect_with_a_fresh_snapshot_until_terminal(self):
        _Handler.streams = 0
        evs = list(self.client.workflow_events("w1"))
        self.assertEqual([e.type for e in evs], ["snapshot", "step", "snapshot", "step", "workflow"])
        self.assertEqual(_Handler.streams, 2)
        self.assertEqual(evs[1].steps[0].name, "a")
        self.assertEqual(evs[2].steps[0].state, "succeeded", "the second snapshot is fresh")
        # A step event may carry the terminal state already: the workflow
        # event still follows it.
        self.assertTrue(evs[3].terminal)
        self.assertTrue(evs[-1].terminal)
        self.assertEqual(evs[-1].state, "succeeded")

        async def follow():
            _Handler.streams = 1  # the next connection ends the stream
            ac = AsyncClient(self.base, "key")
            types = [e.type async for e in ac.workflow_events("w1")]
            return types, (await ac.wait_workflow("w1", timeout=5)).state
        self.assertEqual(asyncio.run(follow()), (["snapshot", "step", "workflow"], "succeeded"))


class ParentResultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=cls.srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        cls.worker = Worker(f"http://127.0.0.1:{cls.srv.server_address[1]}", "hwt_x")

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()

    def claimed(self, attempt=1, workflow=True):
        d = {"id": "j1", "kind": "x.sum", "attempt": attempt, "payload": {}}
        if workflow:
            d["workflow"] = {"id": "w1", "step": "c"}
        return ClaimedJob(self.worker, d)

    def test_parent_results(self):
        job = self.claimed()
        self.assertEqual((job.workflow.id, job.workflow.step, job.workflow.element), ("w1", "c", None))
        self.assertEqual(job.parent_results(), {"a": {"items": [1, 2]}, "b": [10, 20]})
        self.assertEqual(job.parent_result("b"), [10, 20])
        with self.assertRaises(KeyError):
            job.parent_result("zzz")

    def test_outside_a_workflow_there_are_none(self):
        self.assertEqual(self.claimed(workflow=False).parent_results(), {})

    def test_a_lost_attempt_raises_lease_lost(self):
        job = self.claimed(attempt=2)
        with self.assertRaises(LeaseLost):
            job.parent_results()
        self.assertTrue(job.lease_lost)


if __name__ == "__main__":
    unittest.main()
