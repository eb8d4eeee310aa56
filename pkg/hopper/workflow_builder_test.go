package hopper

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type builderArgs struct {
	N int `json:"n"`
}

func (builderArgs) Kind() KindSpec { return KindSpec{Name: "test.step"} }

// TestWorkflowBuilderRefuses: the builder keeps its first mistake and
// Build returns it, naming the step.
func TestWorkflowBuilderRefuses(t *testing.T) {
	tests := []struct {
		name  string
		build func() *WorkflowBuilder
		want  string
	}{
		{"no steps", func() *WorkflowBuilder { return NewWorkflow("w") }, "no steps"},
		{"unnamed step", func() *WorkflowBuilder { return NewWorkflow("w").Step("", builderArgs{}) }, "a step needs a name"},
		{"nil args", func() *WorkflowBuilder { return NewWorkflow("w").Step("a", nil) }, `step "a": args is nil`},
		{"payload that does not encode", func() *WorkflowBuilder {
			return NewWorkflow("w").StepKind("a", "test.step", map[string]any{"f": func() {}})
		}, `step "a": encode payload`},
		{"element that does not encode", func() *WorkflowBuilder {
			return NewWorkflow("w").Step("a", builderArgs{}, FanOut([]any{1, make(chan int)}))
		}, `step "a": fan-out element 1`},
		{"priority out of range", func() *WorkflowBuilder {
			return NewWorkflow("w").Step("a", builderArgs{}, StepPriority(9))
		}, `step "a": priority 9: want 0-5`},
		{"first mistake kept", func() *WorkflowBuilder {
			return NewWorkflow("w").Step("a", builderArgs{}, StepTimeout(0)).Step("", builderArgs{})
		}, `step "a": timeout 0s`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build().Build()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestWorkflowBuilderSteps: kinds come from the args' types, FanOutFrom
// adds its parent once, and literal elements are encoded in order.
func TestWorkflowBuilderSteps(t *testing.T) {
	req, err := NewWorkflow("w").ContinueOnFailure().
		Step("a", builderArgs{N: 1}).
		Step("b", builderArgs{}, DependsOn("a"), FanOutFrom("a", "items")).
		Step("c", builderArgs{}, FanOut([]builderArgs{{N: 1}, {N: 2}}), DependsOn("b", "b")).
		Build()
	require.NoError(t, err)
	assert.Equal(t, "continue", req.FailurePolicy)
	require.Len(t, req.Steps, 3)
	assert.Equal(t, "test.step", req.Steps[0].Kind)
	assert.JSONEq(t, `{"n":1}`, string(req.Steps[0].Payload))
	assert.Equal(t, []string{"a"}, req.Steps[1].DependsOn)
	assert.Equal(t, &ForEach{From: "a", Path: "items"}, req.Steps[1].ForEach)
	assert.Equal(t, []string{"b"}, req.Steps[2].DependsOn)
	assert.Equal(t, []json.RawMessage{json.RawMessage(`{"n":1}`), json.RawMessage(`{"n":2}`)}, req.Steps[2].ForEach.Items)
}
