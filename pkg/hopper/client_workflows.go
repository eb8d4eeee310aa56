package hopper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hopperq/hopper/pkg/jobs"
)

// Workflows: steps of any kinds with dependencies, fan-out over a list
// and fan-in of the parents' results, resolved durably in Postgres (see
// the README's Workflows section). The request and answer types are the
// gateway's own.
type (
	// WorkflowRequest is a workflow to submit: named steps, a failure
	// policy (jobs.FailureStop, the default, or jobs.FailureContinue) and
	// an optional idempotency key.
	WorkflowRequest = jobs.WorkflowRequest
	// WorkflowStepRequest is one step: Kind, Payload, Options, DependsOn
	// (step names) and ForEach.
	WorkflowStepRequest = jobs.WorkflowStepRequest
	// StepOptions are a step's job options (priority, max_attempts,
	// timeout), as raw JSON like a submit's.
	StepOptions = jobs.StepOptions
	// ForEach fans a step out: Items, or the list at Path in the result of
	// parent step From. Each element's job gets the element under "item"
	// and its position under "index" in its payload.
	ForEach = jobs.ForEach
	// WorkflowInfo is a workflow with its steps, their jobs and results,
	// and its timeline.
	WorkflowInfo = jobs.WorkflowView
	// WorkflowAccepted answers SubmitWorkflow.
	WorkflowAccepted = jobs.WorkflowAccepted
)

// SubmitWorkflow validates and stores a workflow; its root steps' jobs
// are queued when it returns. A malformed graph (a cycle, an unknown
// dependency or kind, a payload its kind's schema refuses) is an
// *APIError matching ErrUnprocessable whose message names the field,
// e.g. steps[2].payload.board.
func (c *Client) SubmitWorkflow(ctx context.Context, req WorkflowRequest) (WorkflowAccepted, error) {
	var out WorkflowAccepted
	if _, err := c.call(ctx, http.MethodPost, "/v1/workflows", nil, req, nil, &out); err != nil {
		return WorkflowAccepted{}, fmt.Errorf("hopper: submit workflow: %w", err)
	}
	return out, nil
}

// GetWorkflow returns workflow id: its state, every step's state, jobs
// and (once succeeded) result, and its timeline.
func (c *Client) GetWorkflow(ctx context.Context, id string) (WorkflowInfo, error) {
	if strings.TrimSpace(id) == "" {
		return WorkflowInfo{}, errors.New("hopper: get workflow: id is empty")
	}
	var out WorkflowInfo
	if _, err := c.call(ctx, http.MethodGet, "/v1/workflows/"+url.PathEscape(id), nil, nil, nil, &out); err != nil {
		return WorkflowInfo{}, fmt.Errorf("hopper: get workflow %s: %w", id, err)
	}
	return out, nil
}

// ParentResult decodes the result of parent step of the workflow step j
// runs (for a fan-out parent, the list of its elements' results) into T.
// The results are read from the parents' job rows when called.
func ParentResult[T any](ctx context.Context, j *RawJob, step string) (T, error) {
	var out T
	all, err := j.ParentResults(ctx)
	if err != nil {
		return out, err
	}
	raw, ok := all[step]
	if !ok {
		return out, fmt.Errorf("hopper: step %q is not a parent with a result", step)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("hopper: decode the result of step %s: %w", step, err)
	}
	return out, nil
}
