package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// pullWorker is an external worker as any language would write one: plain
// HTTP and JSON against /v1/worker/*, no SDK, no database or broker.
type pullWorker struct {
	t     *testing.T
	base  string
	token string
	// instance, when set, is sent as Hopper-Worker-Instance.
	instance string
}

// newPullWorker has the admin create a worker token for queues.
func (s *stack) newPullWorker(name string, queues ...string) *pullWorker {
	s.t.Helper()
	code, out := s.do("POST", "/v1/admin/worker-tokens", s.admin, map[string]any{"name": name, "queues": queues}, nil)
	require.Equal(s.t, 201, code, out)
	require.Equal(s.t, "hwt_", out["token"].(string)[:4])
	return &pullWorker{t: s.t, base: s.base, token: out["token"].(string)}
}

// call posts body to path and returns the status and decoded answer.
func (w *pullWorker) call(path string, body any) (int, map[string]any) {
	w.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(w.t, err)
	req, err := http.NewRequest("POST", w.base+path, bytes.NewReader(raw))
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	if w.instance != "" {
		req.Header.Set("Hopper-Worker-Instance", w.instance)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	out := map[string]any{}
	if len(data) > 0 {
		require.NoError(w.t, json.Unmarshal(data, &out), "body: %s", data)
	}
	return resp.StatusCode, out
}

// get GETs path and returns the status and decoded answer.
func (w *pullWorker) get(path string) (int, map[string]any) {
	w.t.Helper()
	req, err := http.NewRequest("GET", w.base+path, nil)
	require.NoError(w.t, err)
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	require.NoError(w.t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// register publishes kinds (name → queue) with a short backoff.
func (w *pullWorker) register(kinds ...map[string]any) {
	w.t.Helper()
	code, out := w.call("/v1/worker/kinds", map[string]any{"kinds": kinds})
	require.Equal(w.t, 200, code, out)
}

// claim long-polls; it returns the job or nil on 204.
func (w *pullWorker) claim(body map[string]any) map[string]any {
	w.t.Helper()
	code, out := w.call("/v1/worker/claim", body)
	if code == 204 {
		return nil
	}
	require.Equal(w.t, 200, code, out)
	return out["job"].(map[string]any)
}

func jobAttempt(j map[string]any) int { return int(j["attempt"].(float64)) }

// TestPullProtocol: an external worker over plain HTTP registers a kind,
// claims its job, reports progress, streams output and succeeds; sees a
// cancel on its heartbeat; loses a job to the reaper when it stops
// heartbeating, after which another claim runs attempt 2 exactly once;
// hands an attempt back uncharged (release); claims a backlog in
// priority order; reads a workflow step's parents'
// results (only while it holds the job); and its token reaches nothing
// outside its queues.
func TestPullProtocol(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	userID, key := s.newUser("user")
	_ = userID

	t.Run("claim progress output succeed", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-echo", "pyecho")
		w.register(map[string]any{"name": "pyecho.run", "description": "echo in Python",
			"payload_schema": map[string]any{"type": "object", "required": []string{"text"}}})
		code, out := s.do("POST", "/v1/jobs", key, map[string]any{"kind": "pyecho.run", "payload": map[string]any{}}, nil)
		require.Equal(t, 422, code, "the registered schema applies: %v", out)
		id := s.submit(key, map[string]any{"kind": "pyecho.run", "payload": map[string]any{"text": "hi"}})

		start := time.Now()
		job := w.claim(map[string]any{"wait_seconds": 10})
		t.Logf("claim latency with the job waiting: %s", time.Since(start))
		require.NotNil(t, job)
		require.Equal(t, id, job["id"])
		require.Equal(t, 1, jobAttempt(job))
		require.Equal(t, "hi", job["payload"].(map[string]any)["text"])

		path := "/v1/worker/jobs/" + id
		code, out = w.call(path+"/progress", map[string]any{"attempt": 1, "progress": 40, "message": "thinking"})
		require.Equal(t, 200, code, out)
		require.Equal(t, false, out["cancel_requested"])
		for i, chunks := range [][]string{{"Hel", "lo"}, {", "}, {"world", "!"}} {
			code, out = w.call(path+"/output", map[string]any{"attempt": 1, "chunks": chunks})
			require.Equal(t, 200, code, "batch %d: %v", i, out)
		}
		require.Equal(t, float64(5), out["last_seq"])
		got := s.waitState(key, id, "running")
		require.Equal(t, float64(40), got["progress"])
		require.Equal(t, "thinking", got["status_message"])

		code, out = w.call(path+"/succeed", map[string]any{"attempt": 1, "result": map[string]any{"echo": "hi"}})
		require.Equal(t, 200, code, out)
		require.Equal(t, "succeeded", out["state"])
		got = s.waitState(key, id, "succeeded")
		require.Equal(t, "hi", got["result"].(map[string]any)["echo"])

		code, text := s.do("GET", "/v1/jobs/"+id+"/output?format=text", key, nil, nil)
		require.Equal(t, 200, code, text)
		require.Equal(t, "Hello, world!", text["text"])
		chunks, end := s.readOutput(key, id, 0, 0)
		require.Len(t, chunks, 5)
		require.Equal(t, "succeeded", end["state"])

		// The attempt is over: a late write is refused.
		code, out = w.call(path+"/output", map[string]any{"attempt": 1, "chunks": []string{"late"}})
		require.Equal(t, 409, code, out)
		code, _ = w.call(path+"/succeed", map[string]any{"attempt": 1, "result": nil})
		require.Equal(t, 409, code)
	})

	t.Run("live pull workers listed and counted per kind", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-live", "pylive")
		w.instance = "host-a:1"
		w.register(map[string]any{"name": "pylive.run"})
		// A second instance of the token only claims.
		w2 := *w
		w2.instance = "host-b:7"
		require.Nil(t, w2.claim(map[string]any{"wait_seconds": 0}))

		var k map[string]any
		testkit.WaitFor(t, 10*time.Second, func() bool {
			_, k = s.do("GET", "/v1/kinds/pylive.run", key, nil, nil)
			return k["workers"] != nil
		}, "the gateway's catalogue reads the registered kind (last: %v)", k)
		assert.EqualValues(t, 2, k["workers"], "both instances of the token run its kind")
		code, ws := s.do("GET", "/v1/workers", s.admin, nil, nil)
		require.Equal(t, 200, code, ws)
		var services []string
		for _, x := range ws["workers"].([]any) {
			row := x.(map[string]any)
			if row["service"] == "pull-py-live" {
				services = append(services, row["id"].(string))
				assert.Equal(t, []any{"pylive"}, row["queues"])
				assert.NotEmpty(t, row["host"])
			}
		}
		require.Len(t, services, 2, "one row per instance: %v", ws)
		for _, id := range services {
			assert.Regexp(t, `^pull:[0-9a-f-]{36}/host-(a:1|b:7)$`, id)
		}

		bad := *w
		bad.instance = "no spaces please"
		code, out := bad.call("/v1/worker/claim", map[string]any{"wait_seconds": 0})
		assert.Equal(t, 400, code, out)
	})

	t.Run("cancel seen on heartbeat", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-cancel", "pycancel")
		w.register(map[string]any{"name": "pycancel.run"})
		id := s.submit(key, map[string]any{"kind": "pycancel.run", "payload": map[string]any{}})
		job := w.claim(map[string]any{"wait_seconds": 10})
		require.Equal(t, id, job["id"])
		code, out := w.call("/v1/worker/jobs/"+id+"/heartbeat", map[string]any{"attempt": 1})
		require.Equal(t, 200, code, out)
		require.Equal(t, false, out["cancel_requested"])

		code, out = s.do("DELETE", "/v1/jobs/"+id, key, nil, nil)
		require.Equal(t, 202, code, out)
		code, out = w.call("/v1/worker/jobs/"+id+"/heartbeat", map[string]any{"attempt": 1})
		require.Equal(t, 200, code, out)
		require.Equal(t, true, out["cancel_requested"])
		code, out = w.call("/v1/worker/jobs/"+id+"/fail", map[string]any{"attempt": 1, "error": "stopped on request"})
		require.Equal(t, 200, code, out)
		require.Equal(t, "cancelled", out["state"])
		s.waitState(key, id, "cancelled")
	})

	t.Run("lease expires then attempt 2 succeeds once", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-lease", "pylease")
		w.register(map[string]any{"name": "pylease.run", "max_attempts": 3,
			"backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.1})
		id := s.submit(key, map[string]any{"kind": "pylease.run", "payload": map[string]any{}})
		first := w.claim(map[string]any{"wait_seconds": 10, "lease_seconds": 2})
		require.Equal(t, id, first["id"])
		// This worker now dies: no heartbeat. The reaper takes the job
		// back when the lease expires and the dispatcher publishes it
		// again for another claim.
		var second map[string]any
		testkit.WaitFor(t, 20*time.Second, func() bool {
			second = w.claim(map[string]any{"wait_seconds": 2})
			return second != nil
		}, "a second claim of the reaped job")
		require.Equal(t, id, second["id"])
		require.Equal(t, 2, jobAttempt(second))

		path := "/v1/worker/jobs/" + id
		code, out := w.call(path+"/succeed", map[string]any{"attempt": 1, "result": "stale"})
		require.Equal(t, 409, code, "the dead attempt cannot finish: %v", out)
		code, out = w.call(path+"/heartbeat", map[string]any{"attempt": 1})
		require.Equal(t, 409, code, out)
		require.Equal(t, "lease_lost", out["error"].(map[string]any)["code"], "its own job's attempt moved on: %v", out)
		code, out = w.call(path+"/succeed", map[string]any{"attempt": 2, "result": "fresh"})
		require.Equal(t, 200, code, out)
		job := s.waitState(key, id, "succeeded")
		require.Equal(t, "fresh", job["result"])
		types := eventTypes(job)
		succeeded := 0
		for _, ty := range types {
			if ty == "succeeded" {
				succeeded++
			}
		}
		require.Equal(t, 1, succeeded, "one effective run: %v", types)
		require.Contains(t, types, "lease_expired", "the reaper took attempt 1 back: %v", types)
	})

	t.Run("release hands the attempt back uncharged", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-release", "pyrelease")
		w.register(map[string]any{"name": "pyrelease.run", "max_attempts": 1})
		id := s.submit(key, map[string]any{"kind": "pyrelease.run", "payload": map[string]any{}})
		first := w.claim(map[string]any{"wait_seconds": 10})
		require.Equal(t, id, first["id"])
		require.Equal(t, 1, jobAttempt(first))
		// The worker stops before the job is done: it hands it back.
		code, out := w.call("/v1/worker/jobs/"+id+"/release", map[string]any{"attempt": 1})
		require.Equal(t, 200, code, out)
		require.Equal(t, "queued", out["state"])
		code, out = w.call("/v1/worker/jobs/"+id+"/release", map[string]any{"attempt": 1})
		require.Equal(t, 409, code, "released once: %v", out)

		// Another claim runs it, still on attempt 1 of 1: the release
		// was not charged (a retry would have failed the job).
		var second map[string]any
		testkit.WaitFor(t, 20*time.Second, func() bool {
			second = w.claim(map[string]any{"wait_seconds": 2})
			return second != nil
		}, "the released job claimed again")
		require.Equal(t, id, second["id"])
		require.Equal(t, 1, jobAttempt(second))
		code, out = w.call("/v1/worker/jobs/"+id+"/succeed", map[string]any{"attempt": 1, "result": "done"})
		require.Equal(t, 200, code, out)
		job := s.waitState(key, id, "succeeded")
		require.Contains(t, eventTypes(job), "released")
	})

	t.Run("priority order under a backlog", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-prio", "pyprio")
		w.register(map[string]any{"name": "pyprio.run"})
		prios := []int{1, 3, 5, 0, 4, 2, 5, 1}
		for i, p := range prios {
			s.submit(key, map[string]any{"kind": "pyprio.run", "priority": p, "payload": map[string]any{"i": i}})
		}
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			_, q := s.do("GET", "/v1/queues", s.admin, nil, nil)
			for _, e := range q["queues"].([]any) {
				m := e.(map[string]any)
				if m["name"] == "pyprio" && m["ready"] != nil {
					return int(m["ready"].(float64)) == len(prios)
				}
			}
			return false
		}, "the backlog to be in RabbitMQ")
		var got []int
		for range prios {
			job := w.claim(map[string]any{"wait_seconds": 5})
			require.NotNil(t, job)
			got = append(got, int(job["priority"].(float64)))
			code, out := w.call("/v1/worker/jobs/"+job["id"].(string)+"/succeed", map[string]any{"attempt": 1, "result": nil})
			require.Equal(t, 200, code, out)
		}
		want := slices.Clone(prios)
		sort.Sort(sort.Reverse(sort.IntSlice(want)))
		require.Equal(t, want, got, "highest priority first")
	})

	t.Run("workflow step reads its parents", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-flow", "pyflow")
		w.register(map[string]any{"name": "pyflow.run"})
		code, acc := s.do("POST", "/v1/workflows", key, map[string]any{"steps": []any{
			map[string]any{"name": "a", "kind": "pyflow.run", "payload": map[string]any{}},
			map[string]any{"name": "b", "kind": "pyflow.run", "depends_on": []string{"a"},
				"for_each": map[string]any{"from": "a", "path": "items"}},
			map[string]any{"name": "c", "kind": "pyflow.run", "depends_on": []string{"a", "b"}},
		}}, nil)
		require.Equal(t, 202, code, acc)
		wfID := acc["id"].(string)
		// claimStep claims the next job, checks its workflow block and
		// reads its parents.
		claimStep := func(step string) (map[string]any, map[string]any) {
			t.Helper()
			job := w.claim(map[string]any{"wait_seconds": 10})
			require.NotNil(t, job)
			wf := job["workflow"].(map[string]any)
			require.Equal(t, wfID, wf["id"])
			require.Equal(t, step, wf["step"])
			code, out := w.get("/v1/worker/jobs/" + job["id"].(string) + "/parents?attempt=1")
			require.Equal(t, 200, code, out)
			require.Equal(t, wf, out["workflow"], "the claim's workflow block")
			return job, out["parents"].(map[string]any)
		}
		succeed := func(job map[string]any, result any) {
			t.Helper()
			code, out := w.call("/v1/worker/jobs/"+job["id"].(string)+"/succeed", map[string]any{"attempt": 1, "result": result})
			require.Equal(t, 200, code, out)
		}

		a, parents := claimStep("a")
		assert.Empty(t, parents, "a root step has no parents")
		assert.NotContains(t, a["workflow"], "element")
		succeed(a, map[string]any{"items": []int{1, 2, 3}})
		elements := map[float64]bool{}
		for range 3 {
			b, parents := claimStep("b")
			elements[b["workflow"].(map[string]any)["element"].(float64)] = true
			assert.Equal(t, map[string]any{"a": map[string]any{"items": []any{1.0, 2.0, 3.0}}}, parents)
			item := b["payload"].(map[string]any)["item"].(float64)
			succeed(b, item*10)
		}
		assert.Equal(t, map[float64]bool{0: true, 1: true, 2: true}, elements)
		c, parents := claimStep("c")
		assert.Equal(t, []any{10.0, 20.0, 30.0}, parents["b"], "a fan-out parent: its elements' results in order")
		assert.Contains(t, parents, "a")

		path := "/v1/worker/jobs/" + c["id"].(string) + "/parents"
		code, out := w.get(path + "?step=b")
		require.Equal(t, 200, code, out)
		assert.Equal(t, map[string]any{"b": []any{10.0, 20.0, 30.0}}, out["parents"], "one parent")
		code, out = w.get(path + "?attempt=2")
		assert.Equal(t, 409, code, "not the attempt held: %v", out)
		code, out = w.get(path + "?attempt=x")
		assert.Equal(t, 400, code, out)
		other := s.newPullWorker("py-flow-other", "pyflowother")
		code, out = other.get(path)
		assert.Equal(t, 404, code, "another token's job: %v", out)
		succeed(c, nil)
		code, out = w.get(path)
		assert.Equal(t, 409, code, "the attempt is over: %v", out)

		// A job outside any workflow: no workflow block, no parents.
		id := s.submit(key, map[string]any{"kind": "pyflow.run", "payload": map[string]any{}})
		job := w.claim(map[string]any{"wait_seconds": 10})
		require.Equal(t, id, job["id"])
		assert.NotContains(t, job, "workflow")
		code, out = w.get("/v1/worker/jobs/" + id + "/parents")
		require.Equal(t, 200, code, out)
		assert.Nil(t, out["workflow"])
		assert.Empty(t, out["parents"])
		succeed(job, nil)
	})

	t.Run("token scope", func(t *testing.T) {
		t.Parallel()
		w := s.newPullWorker("py-scope", "pyscope")
		w.register(map[string]any{"name": "pyscope.run"})
		other := s.newPullWorker("py-other", "pyother")
		other.register(map[string]any{"name": "pyother.run"})
		otherID := s.submit(key, map[string]any{"kind": "pyother.run", "payload": map[string]any{}})
		require.NotNil(t, other.claim(map[string]any{"wait_seconds": 10}))

		// Not a user: no submit, no job reads.
		code, out := s.do("POST", "/v1/jobs", w.token, map[string]any{"kind": "pyscope.run", "payload": map[string]any{}}, nil)
		assert.Equal(t, 403, code, out)
		code, out = s.do("GET", "/v1/jobs/"+otherID, w.token, nil, nil)
		assert.Equal(t, 403, code, out)
		code, out = s.do("GET", "/v1/jobs/"+otherID+"/output", w.token, nil, nil)
		assert.Equal(t, 403, code, out)
		// Not another token's job (404: not found for this token, unlike
		// the 409 lease_lost of a job it held once), nor another queue's.
		for _, call := range []string{"heartbeat", "progress", "output", "succeed", "fail", "retry"} {
			body := map[string]any{"attempt": 1}
			if call == "output" {
				body["chunks"] = []string{"x"}
			}
			code, out = w.call("/v1/worker/jobs/"+otherID+"/"+call, body)
			assert.Equal(t, 404, code, "%s: %v", call, out)
		}
		code, out = w.call("/v1/worker/jobs/"+uuid.NewString()+"/heartbeat", map[string]any{"attempt": 1})
		assert.Equal(t, 404, code, out)
		code, out = w.call("/v1/worker/claim", map[string]any{"queues": []string{"pyother"}, "wait_seconds": 0})
		assert.Equal(t, 403, code, out)
		code, out = w.call("/v1/worker/claim", map[string]any{"queues": []string{"chat"}, "wait_seconds": 0})
		assert.Equal(t, 403, code, out)
		code, out = w.call("/v1/worker/kinds", map[string]any{"kinds": []any{map[string]any{"name": "chat.steal", "queue": "chat"}}})
		assert.Equal(t, 403, code, out)
		code, out = w.call("/v1/worker/kinds", map[string]any{"kinds": []any{map[string]any{"name": "chat.message", "queue": "pyscope"}}})
		assert.Equal(t, 403, code, "a built-in kind cannot be moved into the token's queue: %v", out)
		// An API key is no worker token, a revoked token nothing.
		code, out = s.do("POST", "/v1/worker/claim", key, map[string]any{}, nil)
		assert.Equal(t, 403, code, out)
		code, out = s.do("GET", "/v1/jobs/"+otherID, key, nil, nil)
		assert.Equal(t, 200, code, "the owner still reads it: %v", out)
	})
}

// readOutput follows a job's output stream from Last-Event-ID after
// until its end event and returns the chunks and the end event's data;
// with stopAt > 0 it hangs up once it has that many chunks (end is nil).
func (s *stack) readOutput(key, id string, after int64, stopAt int) ([]outChunk, map[string]any) {
	s.t.Helper()
	return s.readOutputOpened(key, id, after, stopAt, nil)
}

// readOutputOpened is readOutput calling opened (if set) once the stream
// is open: the server subscribed before it answered.
func (s *stack) readOutputOpened(key, id string, after int64, stopAt int, opened func()) ([]outChunk, map[string]any) {
	s.t.Helper()
	last := ""
	if after > 0 {
		last = fmt.Sprint(after)
	}
	st := s.openStream(key, "/v1/jobs/"+id+"/output", last)
	defer st.Close()
	if opened != nil {
		opened()
	}
	var chunks []outChunk
	for {
		m, ok := st.next(s.t)
		if !ok {
			s.t.Fatalf("output stream of %s ended without its end event after %d chunks", id, len(chunks))
		}
		switch m.Event {
		case "end":
			return chunks, m.Data
		case "output":
			c := outChunk{Seq: int64(m.Data["seq"].(float64)), Text: m.Data["text"].(string), At: m.Received}
			require.Equal(s.t, fmt.Sprint(c.Seq), m.ID)
			chunks = append(chunks, c)
			if stopAt > 0 && len(chunks) == stopAt {
				return chunks, nil
			}
		}
	}
}

type outChunk struct {
	Seq  int64
	Text string
	At   time.Time
}
