package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/testkit"
)

// Flow is the payload of the workflow tests' kind: each op is a small
// behaviour a step may have.
type Flow struct {
	// const: result n. sum: n plus the n of every parent's result (a
	// fan-out parent's elements summed). split: items 1..n. double: 2 ×
	// item. fail: fails for good until the test fixes gate n. block: runs
	// until gate n opens or it is cancelled.
	Op    string `json:"op"`
	N     int    `json:"n,omitempty"`
	Item  *int   `json:"item,omitempty"`
	Index *int   `json:"index,omitempty"`
}

func (Flow) Kind() hopper.KindSpec {
	return hopper.KindSpec{Name: "flow.step", Description: "a workflow test step", MaxAttempts: 2,
		Timeout: 30 * time.Second, BackoffBase: 10 * time.Millisecond, BackoffCap: 20 * time.Millisecond}
}

type flowResult struct {
	N       int      `json:"n"`
	Items   []int    `json:"items,omitempty"`
	Parents []string `json:"parents,omitempty"`
}

// gates opens blocking steps and fixes failing ones, by key.
type gates struct {
	mu    sync.Mutex
	open  map[int]chan struct{}
	fixed map[int]bool
}

func (g *gates) ch(n int) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open[n] == nil {
		g.open[n] = make(chan struct{})
	}
	return g.open[n]
}

func (g *gates) release(n int) { close(g.ch(n)) }

func (g *gates) fix(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fixed[n] = true
}

func (g *gates) isFixed(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fixed[n]
}

func (g *gates) handle(ctx context.Context, j *hopper.Job[Flow]) (flowResult, error) {
	a := j.Args
	switch a.Op {
	case "const":
		return flowResult{N: a.N}, nil
	case "split":
		out := flowResult{Items: make([]int, a.N)}
		for i := range out.Items {
			out.Items[i] = i + 1
		}
		return out, nil
	case "double":
		return flowResult{N: 2 * *a.Item}, nil
	case "fail":
		if !g.isFixed(a.N) {
			return flowResult{}, hopper.Permanent(errors.New("broken until fixed"))
		}
		return flowResult{N: a.N}, nil
	case "block":
		select {
		case <-g.ch(a.N):
			return flowResult{N: a.N}, nil
		case <-ctx.Done():
			return flowResult{}, ctx.Err()
		}
	case "sum":
		parents, err := j.ParentResults(ctx)
		if err != nil {
			return flowResult{}, err
		}
		out := flowResult{N: a.N}
		for name, raw := range parents {
			out.Parents = append(out.Parents, name)
			var one flowResult
			if json.Unmarshal(raw, &one) == nil {
				out.N += one.N
				continue
			}
			var many []flowResult
			if err := json.Unmarshal(raw, &many); err != nil {
				return flowResult{}, hopper.Permanent(fmt.Errorf("parent %s: %w", name, err))
			}
			for _, m := range many {
				out.N += m.N
			}
		}
		sort.Strings(out.Parents)
		return out, nil
	}
	return flowResult{}, hopper.Permanentf("unknown op %q", a.Op)
}

// flowStack is a gateway, a worker on the SDK running flow.step, and a
// user with an SDK client.
type flowStack struct {
	*stack
	key    string
	client *hopper.Client
	gates  *gates
}

func startFlowStack(t *testing.T) *flowStack {
	t.Helper()
	s := startStack(t, stackOptions{})
	_, key := s.newUser("user")
	g := &gates{open: map[int]chan struct{}{}, fixed: map[int]bool{}}
	cfg, err := config.Load("flow-worker", s.getenv)
	require.NoError(t, err)
	cfg.Concurrency = 16
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: zaptest.NewLogger(t).Named("flow-worker")})
	require.NoError(t, err)
	hopper.Handle(w, g.handle)
	s.running++
	go func() { s.done <- w.Run(s.ctx) }()
	client, err := hopper.NewClient(s.base, key)
	require.NoError(t, err)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, _ := s.do("GET", "/v1/kinds/flow.step", key, nil, nil)
		return code == 200
	}, "flow.step in the catalogue")
	t.Cleanup(func() { // let blocked handlers go before the worker drains
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, ch := range g.open {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	})
	return &flowStack{stack: s, key: key, client: client, gates: g}
}

// step is a flow.step step.
func step(name string, f Flow, deps ...string) hopper.WorkflowStepRequest {
	raw, _ := json.Marshal(f)
	return hopper.WorkflowStepRequest{Name: name, Kind: "flow.step", Payload: raw, DependsOn: deps}
}

func (f *flowStack) submit(t *testing.T, policy string, steps ...hopper.WorkflowStepRequest) string {
	t.Helper()
	acc, err := f.client.SubmitWorkflow(t.Context(), hopper.WorkflowRequest{FailurePolicy: policy, Steps: steps})
	require.NoError(t, err)
	return acc.ID
}

// wait polls the workflow until cond holds.
func (f *flowStack) wait(t *testing.T, id string, what string, cond func(hopper.WorkflowInfo) bool) hopper.WorkflowInfo {
	t.Helper()
	var w hopper.WorkflowInfo
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		var err error
		w, err = f.client.GetWorkflow(t.Context(), id)
		require.NoError(t, err)
		return cond(w)
	}, "workflow %s: %s (last %+v)", id, what, &w)
	return w
}

func (f *flowStack) waitState(t *testing.T, id, state string) hopper.WorkflowInfo {
	t.Helper()
	return f.wait(t, id, "state "+state, func(w hopper.WorkflowInfo) bool { return w.State == state })
}

func stepOf(t *testing.T, w hopper.WorkflowInfo, name string) jobs.WorkflowStepView {
	t.Helper()
	for _, s := range w.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %s", name)
	return jobs.WorkflowStepView{}
}

func states(w hopper.WorkflowInfo) map[string]string {
	out := map[string]string{}
	for _, s := range w.Steps {
		out[s.Name] = s.State
	}
	return out
}

// TestWorkflows runs workflows end to end through the HTTP API and
// workers written on the SDK: a diamond with a fan-in, a fan-out of 200,
// each failure policy, a cancel, and a retry that resumes.
func TestWorkflows(t *testing.T) {
	t.Parallel()
	f := startFlowStack(t)

	t.Run("diamond: D reads B's and C's results", func(t *testing.T) {
		t.Parallel()
		id := f.submit(t, "",
			step("A", Flow{Op: "const", N: 1}),
			step("B", Flow{Op: "sum", N: 10}, "A"),
			step("C", Flow{Op: "sum", N: 100}, "A"),
			step("D", Flow{Op: "sum"}, "B", "C"))
		w := f.waitState(t, id, "succeeded")
		var d flowResult
		require.NoError(t, json.Unmarshal(stepOf(t, w, "D").Result, &d))
		assert.Equal(t, flowResult{N: 112, Parents: []string{"B", "C"}}, d)
		b, c, dd := stepOf(t, w, "B"), stepOf(t, w, "C"), stepOf(t, w, "D")
		assert.False(t, dd.ReleasedAt.Before(*b.FinishedAt), "D waits for B")
		assert.False(t, dd.ReleasedAt.Before(*c.FinishedAt), "D waits for C")
		require.Len(t, dd.Jobs, 1)
		assert.Equal(t, 1, dd.Attempts)
		// The job shows its workflow; a job retry is refused (the workflow
		// retries its steps).
		code, job := f.do("GET", "/v1/jobs/"+dd.Jobs[0].ID, f.key, nil, nil)
		require.Equal(t, 200, code)
		assert.Equal(t, id, job["workflow_id"])
		assert.Equal(t, "D", job["workflow_step"])
		assert.Equal(t, "created", w.Timeline[0].Type)
		assert.Equal(t, "succeeded", w.Timeline[len(w.Timeline)-1].Type)
	})

	t.Run("fan-out of 200 and a fan-in summing them", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		each := step("double", Flow{Op: "double"}, "split")
		each.ForEach = &hopper.ForEach{From: "split", Path: "items"}
		id := f.submit(t, "", step("split", Flow{Op: "split", N: 200}), each, step("total", Flow{Op: "sum"}, "double"))
		w := f.waitState(t, id, "succeeded")
		took := time.Since(start)
		t.Logf("fan-out of 200 and fan-in: %s from submit to succeeded", took)
		d := stepOf(t, w, "double")
		assert.Equal(t, 200, d.JobsTotal)
		assert.Equal(t, 200, d.JobsSucceeded)
		require.Len(t, d.Jobs, 200)
		var list []flowResult
		require.NoError(t, json.Unmarshal(d.Result, &list))
		require.Len(t, list, 200)
		assert.Equal(t, 2, list[0].N, "element results in element order")
		assert.Equal(t, 400, list[199].N)
		var total flowResult
		require.NoError(t, json.Unmarshal(stepOf(t, w, "total").Result, &total))
		assert.Equal(t, 200*201, total.N, "2 × (1 + … + 200)")
	})

	t.Run("stop: a failure cancels what waits; running steps finish", func(t *testing.T) {
		t.Parallel()
		id := f.submit(t, jobs.FailureStop,
			step("B", Flow{Op: "fail", N: 101}),
			step("C", Flow{Op: "block", N: 102}),
			step("E", Flow{Op: "sum"}, "C"),
			step("D", Flow{Op: "sum"}, "B", "C"))
		w := f.wait(t, id, "B failed", func(w hopper.WorkflowInfo) bool { return states(w)["B"] == "failed" })
		assert.Equal(t, "running", w.State, "C still runs")
		assert.Equal(t, "cancelled", states(w)["D"])
		assert.Equal(t, "cancelled", states(w)["E"])
		f.gates.release(102)
		w = f.waitState(t, id, "failed")
		assert.Equal(t, map[string]string{"B": "failed", "C": "succeeded", "D": "cancelled", "E": "cancelled"}, states(w))
		assert.Empty(t, stepOf(t, w, "E").Jobs, "never released")
	})

	t.Run("continue: what does not depend on the failure runs", func(t *testing.T) {
		t.Parallel()
		id := f.submit(t, jobs.FailureContinue,
			step("B", Flow{Op: "fail", N: 201}),
			step("C", Flow{Op: "const", N: 5}),
			step("D", Flow{Op: "sum"}, "B"),
			step("E", Flow{Op: "sum", N: 1}, "C"),
			step("F", Flow{Op: "sum"}, "D", "E"))
		w := f.waitState(t, id, "failed")
		assert.Equal(t, map[string]string{"B": "failed", "C": "succeeded", "D": "skipped", "E": "succeeded", "F": "skipped"}, states(w))
		var e flowResult
		require.NoError(t, json.Unmarshal(stepOf(t, w, "E").Result, &e))
		assert.Equal(t, 6, e.N)
	})

	t.Run("cancel mid-workflow", func(t *testing.T) {
		t.Parallel()
		id := f.submit(t, "",
			step("A", Flow{Op: "block", N: 301}),
			step("W", Flow{Op: "block", N: 302}),
			step("B", Flow{Op: "sum"}, "A"))
		f.wait(t, id, "A and W running", func(w hopper.WorkflowInfo) bool {
			a, b := stepOf(t, w, "A"), stepOf(t, w, "W")
			return len(a.Jobs) == 1 && a.Jobs[0].State == "running" && len(b.Jobs) == 1 && b.Jobs[0].State == "running"
		})
		code, out := f.do("POST", "/v1/workflows/"+id+"/cancel", f.key, nil, nil)
		require.Equal(t, 202, code, out)
		assert.Equal(t, float64(2), out["stopping_jobs"])
		w := f.waitState(t, id, "cancelled")
		assert.Equal(t, map[string]string{"A": "cancelled", "W": "cancelled", "B": "cancelled"}, states(w))
		code, _ = f.do("POST", "/v1/workflows/"+id+"/cancel", f.key, nil, nil)
		assert.Equal(t, 409, code, "a cancelled workflow cannot be cancelled again")
	})

	t.Run("retry of a failed step resumes the workflow", func(t *testing.T) {
		t.Parallel()
		id := f.submit(t, "",
			step("A", Flow{Op: "const", N: 1}),
			step("B", Flow{Op: "fail", N: 401}, "A"),
			step("C", Flow{Op: "sum"}, "B"))
		w := f.waitState(t, id, "failed")
		assert.Equal(t, map[string]string{"A": "succeeded", "B": "failed", "C": "cancelled"}, states(w))
		code, _ := f.do("POST", "/v1/jobs/"+stepOf(t, w, "B").Jobs[0].ID+"/retry", f.key, nil, nil)
		assert.Equal(t, 409, code, "a step's job is retried through its workflow")
		code, _ = f.do("POST", "/v1/workflows/"+id+"/steps/A/retry", f.key, nil, nil)
		assert.Equal(t, 409, code, "a succeeded step is not retried")

		f.gates.fix(401)
		code, out := f.do("POST", "/v1/workflows/"+id+"/steps/B/retry", f.key, nil, nil)
		require.Equal(t, 202, code, out)
		w = f.waitState(t, id, "succeeded")
		var c flowResult
		require.NoError(t, json.Unmarshal(stepOf(t, w, "C").Result, &c))
		assert.Equal(t, flowResult{N: 401, Parents: []string{"B"}}, c)
		assert.Equal(t, 2, stepOf(t, w, "B").Attempts, "the failed run and the retry")
	})

	t.Run("built with the SDK builder: fan-out from a result and a fan-in", func(t *testing.T) {
		t.Parallel()
		acc, err := hopper.NewWorkflow("built").
			Step("split", Flow{Op: "split", N: 4}).
			Step("double", Flow{Op: "double"}, hopper.FanOutFrom("split", "items"), hopper.StepMaxAttempts(1)).
			Step("fixed", Flow{Op: "double"}, hopper.FanOut([]int{10, 20})).
			Step("total", Flow{Op: "sum"}, hopper.DependsOn("double", "fixed")).
			Submit(t.Context(), f.client)
		require.NoError(t, err)
		w := f.waitState(t, acc.ID, "succeeded")
		assert.Equal(t, "built", w.Name)
		var total flowResult
		require.NoError(t, json.Unmarshal(stepOf(t, w, "total").Result, &total))
		assert.Equal(t, flowResult{N: 2*(1+2+3+4) + 2*(10+20), Parents: []string{"double", "fixed"}}, total)
	})

	t.Run("live events: a snapshot, each step's changes, the end", func(t *testing.T) {
		t.Parallel()
		id := f.submit(t, "",
			step("A", Flow{Op: "block", N: 501}),
			step("B", Flow{Op: "sum"}, "A"))
		var seen []string
		for ev, err := range f.client.WorkflowEvents(t.Context(), id) {
			require.NoError(t, err)
			switch ev.Type {
			case "snapshot":
				require.Len(t, ev.Steps, 2)
				assert.Equal(t, "running", ev.State)
				assert.Equal(t, hopper.WorkflowStepState{Name: "A", State: "running", JobsTotal: 1}, ev.Steps[0])
				assert.Equal(t, "waiting", ev.Steps[1].State)
				f.gates.release(501) // A ends only once the stream is open
			case "step":
				require.Len(t, ev.Steps, 1)
				seen = append(seen, ev.Steps[0].Name+" "+ev.Steps[0].State)
			case "workflow":
				seen = append(seen, "workflow "+ev.State)
			}
		}
		// B's release and its end may fall in one read: B's "running" is
		// not promised, the order is.
		assert.Subset(t, seen, []string{"A succeeded", "B succeeded", "workflow succeeded"})
		assert.Equal(t, "A succeeded", seen[0])
		assert.Equal(t, "workflow succeeded", seen[len(seen)-1])

		// A finished workflow's stream is its snapshot alone; another
		// user's is not found.
		var again []hopper.WorkflowEvent
		for ev, err := range f.client.WorkflowEvents(t.Context(), id) {
			require.NoError(t, err)
			again = append(again, ev)
		}
		require.Len(t, again, 1)
		assert.Equal(t, "succeeded", again[0].State)
		_, other := f.newUser("user")
		code, _ := f.do("GET", "/v1/workflows/"+id+"/events", other, nil, nil)
		assert.Equal(t, 404, code)
	})

	t.Run("list with filters and cursor, another user's is not found", func(t *testing.T) {
		t.Parallel()
		_, other := f.newUser("user")
		id := f.submit(t, "", step("A", Flow{Op: "const"}))
		f.waitState(t, id, "succeeded")
		code, _ := f.do("GET", "/v1/workflows/"+id, other, nil, nil)
		assert.Equal(t, 404, code)
		code, _ = f.do("POST", "/v1/workflows/"+id+"/cancel", other, nil, nil)
		assert.Equal(t, 404, code)
		code, page := f.do("GET", "/v1/workflows?state=succeeded&limit=1", f.key, nil, nil)
		require.Equal(t, 200, code, page)
		require.Len(t, page["workflows"], 1)
		assert.Equal(t, "succeeded", page["workflows"].([]any)[0].(map[string]any)["state"])
		code, page = f.do("GET", "/v1/workflows", other, nil, nil)
		require.Equal(t, 200, code)
		assert.Empty(t, page["workflows"])
	})
}

// TestWorkflowValidation: a workflow is checked whole before anything is
// stored, and each refusal names its field.
func TestWorkflowValidation(t *testing.T) {
	t.Parallel()
	f := startFlowStack(t)
	ok := func(name string, deps ...string) map[string]any {
		return map[string]any{"name": name, "kind": "flow.step", "payload": map[string]any{"op": "const"}, "depends_on": deps}
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"cycle", map[string]any{"steps": []any{ok("a", "c"), ok("b", "a"), ok("c", "b")}}, "cycle: a → c → b → a"},
		{"unknown dependency", map[string]any{"steps": []any{ok("a", "zz")}}, "steps[0].depends_on[0]"},
		{"duplicate name", map[string]any{"steps": []any{ok("a"), ok("a")}}, "steps[1].name"},
		{"schema", map[string]any{"steps": []any{ok("a"), map[string]any{"name": "b", "kind": "flow.step", "payload": map[string]any{"op": 7}}}}, "steps[1].payload.op"},
		{"unknown kind", map[string]any{"steps": []any{map[string]any{"name": "a", "kind": "flow.nope"}}}, "steps[0].kind"},
		{"policy", map[string]any{"failure_policy": "maybe", "steps": []any{ok("a")}}, "failure_policy"},
		{"fan-out from a non-parent", map[string]any{"steps": []any{ok("a"), map[string]any{"name": "b", "kind": "flow.step",
			"payload": map[string]any{"op": "double"}, "for_each": map[string]any{"from": "a", "path": "items"}}}}, "steps[1].for_each.from"},
		{"too wide", map[string]any{"steps": []any{map[string]any{"name": "b", "kind": "flow.step",
			"payload": map[string]any{"op": "double"}, "for_each": make([]int, jobs.MaxFanOut+1)}}}, "steps[0].for_each.items"},
	} {
		code, out := f.do("POST", "/v1/workflows", f.key, tc.body, nil)
		require.Equal(t, 422, code, "%s: %v", tc.name, out)
		assert.Contains(t, out["error"].(map[string]any)["message"], tc.field, tc.name)
	}
	code, page := f.do("GET", "/v1/workflows", f.key, nil, nil)
	require.Equal(t, 200, code)
	assert.Empty(t, page["workflows"], "nothing was stored")

	// An idempotency key answers its workflow again, and refuses another.
	body := map[string]any{"idempotency_key": "k1", "steps": []any{ok("a")}}
	code, first := f.do("POST", "/v1/workflows", f.key, body, nil)
	require.Equal(t, 202, code, first)
	code, again := f.do("POST", "/v1/workflows", f.key, body, nil)
	require.Equal(t, 202, code, again)
	assert.Equal(t, first["id"], again["id"])
	body["steps"] = []any{ok("b")}
	code, _ = f.do("POST", "/v1/workflows", f.key, body, nil)
	assert.Equal(t, 409, code)
}

// TestWorkflowStepRetryCountsAgainstQuota: a user's step retry is charged
// to the plan's jobs per hour like a job retry, one per job queued again
// (a fan-out's elements each), and refused with 429 when they do not fit,
// leaving the workflow as it was; an admin's retry is not charged.
func TestWorkflowStepRetryCountsAgainstQuota(t *testing.T) {
	t.Parallel()
	f := startFlowStack(t)
	code, out := f.do("POST", "/v1/admin/plans", f.admin, map[string]any{"name": "five", "jobs_per_hour": 5}, nil)
	require.Equal(t, 201, code, out)
	_, key := f.newUserOnPlan("user", "five")
	used := func() float64 {
		code, out := f.do("GET", "/v1/users/me/limits", key, nil, nil)
		require.Equal(t, 200, code, out)
		return out["limits"].(map[string]any)["jobs_per_hour"].(map[string]any)["used"].(float64)
	}
	c, err := hopper.NewClient(f.base, key)
	require.NoError(t, err)
	acc, err := hopper.NewWorkflow("quota").
		Step("A", Flow{Op: "fail", N: 701}, hopper.FanOut([]int{1, 2})).
		Submit(t.Context(), c)
	require.NoError(t, err)
	// f.waitState reads as f's own user; this workflow is key's.
	mine := &flowStack{stack: f.stack, key: key, client: c, gates: f.gates}
	mine.waitState(t, acc.ID, "failed")
	assert.Equal(t, float64(2), used(), "the fan-out's two jobs")

	retry := func(as string) (int, map[string]any) {
		return f.do("POST", "/v1/workflows/"+acc.ID+"/steps/A/retry", as, nil, nil)
	}
	code, out = retry(key)
	require.Equal(t, 202, code, out)
	assert.Len(t, out["jobs"], 2)
	assert.Equal(t, float64(4), used(), "each job queued again is charged")
	mine.waitState(t, acc.ID, "failed")

	code, out = retry(key)
	require.Equal(t, 429, code, out)
	assert.Contains(t, out["error"].(map[string]any)["message"], "4 of 5 jobs in the last hour")
	w, err := c.GetWorkflow(t.Context(), acc.ID)
	require.NoError(t, err)
	assert.Equal(t, "failed", w.State, "a refused retry changes nothing")
	assert.Equal(t, "failed", stepOf(t, w, "A").State)
	assert.Equal(t, float64(4), used())

	f.gates.fix(701)
	code, out = retry(f.admin)
	require.Equal(t, 202, code, out)
	mine.waitState(t, acc.ID, "succeeded")
	assert.Equal(t, float64(4), used(), "an admin's retry is not charged")
}
