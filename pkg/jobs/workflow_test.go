package jobs_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

func workflowCatalog(t testing.TB) jobs.Catalog {
	t.Helper()
	reg, err := jobs.NewRegistry(jobs.Kind{Name: "acme.step", Queue: "acme", DefaultPriority: jobs.PriorityNormal,
		MaxAttempts: 3, Timeout: time.Minute})
	require.NoError(t, err)
	return reg
}

// TestValidateWorkflow: each malformed workflow is refused naming its
// field; a good one keeps its steps in order with the kind's defaults.
func TestValidateWorkflow(t *testing.T) {
	t.Parallel()
	c := workflowCatalog(t)
	st := func(name string, deps ...string) jobs.WorkflowStepRequest {
		return jobs.WorkflowStepRequest{Name: name, Kind: "acme.step", DependsOn: deps}
	}
	fan := func(fe jobs.ForEach, payload string, deps ...string) jobs.WorkflowStepRequest {
		s := st("f", deps...)
		s.ForEach, s.Payload = &fe, json.RawMessage(payload)
		return s
	}
	for _, tc := range []struct {
		name  string
		steps []jobs.WorkflowStepRequest
		want  string
	}{
		{"no steps", nil, "steps: want 1 to 100"},
		{"self", []jobs.WorkflowStepRequest{st("a", "a")}, "steps[0].depends_on[0]: a step cannot depend on itself"},
		{"twice", []jobs.WorkflowStepRequest{st("a"), st("b", "a", "a")}, "steps[1].depends_on[1]"},
		{"bad name", []jobs.WorkflowStepRequest{st("a b")}, "steps[0].name"},
		{"cycle", []jobs.WorkflowStepRequest{st("a", "b"), st("b", "a")}, "cycle: a → b → a"},
		{"reserved field", []jobs.WorkflowStepRequest{fan(jobs.ForEach{Items: []json.RawMessage{[]byte("1")}}, `{"item":1}`)}, "steps[0].payload.item"},
		{"items and from", []jobs.WorkflowStepRequest{st("a"), fan(jobs.ForEach{Items: []json.RawMessage{[]byte("1")}, From: "a"}, `{}`, "a")}, "steps[1].for_each: takes items or from"},
		{"bad path", []jobs.WorkflowStepRequest{st("a"), fan(jobs.ForEach{From: "a", Path: "x..y"}, `{}`, "a")}, "steps[1].for_each.path"},
		{"unknown kind", []jobs.WorkflowStepRequest{{Name: "a", Kind: "acme.nope"}}, "steps[0].kind"},
	} {
		_, err := jobs.ValidateWorkflow(c, jobs.WorkflowRequest{Steps: tc.steps})
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	p, err := jobs.ValidateWorkflow(c, jobs.WorkflowRequest{Steps: []jobs.WorkflowStepRequest{st("a"), st("b", "a"), st("c", "a", "b")}})
	require.NoError(t, err)
	assert.Equal(t, jobs.FailureStop, p.FailurePolicy)
	require.Len(t, p.Steps, 3)
	assert.Equal(t, "acme", p.Steps[2].Spec.Kind.Queue)
	assert.Equal(t, 3, p.Steps[2].Spec.MaxAttempts)
}

// FuzzForEach: any bytes read as a for_each, a parent's result and a path
// either fail cleanly or give at most MaxFanOut elements, each turning
// into a JSON object payload carrying item and index.
func FuzzForEach(f *testing.F) {
	f.Add([]byte(`[1,2,3]`), []byte(`{"items":[{"a":1},"x",null]}`), "items", []byte(`{"k":"v"}`))
	f.Add([]byte(`{"from":"a","path":"x.y"}`), []byte(`{"x":{"y":[]}}`), "x.y", []byte(`{}`))
	f.Add([]byte(`{"items":[],"zz":1}`), []byte(`[]`), "", []byte(` { } `))
	f.Fuzz(func(t *testing.T, forEach, result []byte, path string, base []byte) {
		var fe jobs.ForEach
		_ = json.Unmarshal(forEach, &fe)
		list, err := jobs.ListAt(result, path)
		if err != nil {
			return
		}
		if len(list) > jobs.MaxFanOut {
			t.Fatalf("%d elements", len(list))
		}
		for i, item := range list {
			p, err := jobs.ElementPayload(base, item, i)
			if err != nil {
				continue
			}
			var obj map[string]json.RawMessage
			if json.Valid(base) {
				if err := json.Unmarshal(p, &obj); err != nil {
					t.Fatalf("payload %q from %q: %v", p, base, err)
				}
				if _, ok := obj[jobs.ElementIndexField]; !ok && !strings.Contains(string(base), `"index"`) {
					t.Fatalf("payload %q has no index", p)
				}
			}
		}
	})
}
