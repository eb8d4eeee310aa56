"""Unit tests of the Python SDK against a small local HTTP server (the
end-to-end proof against the real gateway is tools/e2e TestSDKWorkers)."""

import json
import threading
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hopper_client import APIError, Client, KindSpec
from hopper_client.worker import MAX_CHUNK_BYTES, _split


class _Handler(BaseHTTPRequestHandler):
    seen_last_ids = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/v1/jobs/j1/output":
            last = self.headers.get("Last-Event-ID")
            _Handler.seen_last_ids.append(last)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            if last is None:
                # one chunk, then the connection breaks before the end
                self.wfile.write(b'id: 1\nevent: output\ndata: {"seq":1,"attempt":1,"text":"He"}\n\n')
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(b': keepalive\n\nid: 2\nevent: output\ndata: {"seq":2,"attempt":1,"text":"llo"}\n\n'
                             b'event: end\ndata: {"job_id":"j1","state":"succeeded","last_seq":2}\n\n')
            return
        body = json.dumps({"error": {"code": "not_found", "message": "job not found", "details": {"x": 1}}}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SDKTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=cls.srv.serve_forever, daemon=True).start()
        cls.client = Client(f"http://127.0.0.1:{cls.srv.server_address[1]}", "key")

    @classmethod
    def tearDownClass(cls):
        cls.srv.shutdown()

    def test_output_resumes_with_last_event_id(self):
        chunks = list(self.client.output("j1"))
        self.assertEqual([c.text for c in chunks], ["He", "llo"])
        self.assertEqual([c.seq for c in chunks], [1, 2])
        self.assertEqual(_Handler.seen_last_ids[-2:], [None, "1"])

    def test_api_error(self):
        with self.assertRaises(APIError) as cm:
            self.client.get("nope")
        e = cm.exception
        self.assertEqual((e.status, e.code, e.message, e.details), (404, "not_found", "job not found", {"x": 1}))
        self.assertFalse(e.retryable)

    def test_split(self):
        for text, want in [("", 0), ("abc", 1), ("é" * MAX_CHUNK_BYTES, 2), ("x" * (MAX_CHUNK_BYTES * 2 + 1), 3)]:
            parts = _split(text)
            self.assertEqual(len(parts), want, text[:10])
            self.assertEqual("".join(parts), text)
            self.assertTrue(all(len(p.encode()) <= MAX_CHUNK_BYTES for p in parts))

    def test_kind_spec(self):
        d = KindSpec(name="py.echo", schema={"type": "object"}, timeout=5, max_attempts=2).to_dict()
        self.assertEqual(d, {"name": "py.echo", "payload_schema": {"type": "object"},
                             "timeout_seconds": 5, "max_attempts": 2})


if __name__ == "__main__":
    unittest.main()
