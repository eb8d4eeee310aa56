package hopper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hopperq/hopper/pkg/jobs"
)

// WorkflowBuilder builds a WorkflowRequest in code, typed at the steps:
//
//	wf := hopper.NewWorkflow("index a book").
//		Step("split", Split{URL: url}).
//		Step("embed", Embed{Model: "small"}, hopper.FanOutFrom("split", "chunks")).
//		Step("title", Title{}, hopper.DependsOn("split")).
//		Step("index", Index{}, hopper.DependsOn("embed", "title"))
//	acc, err := wf.Submit(ctx, client)
//
// Each method returns the builder; the first mistake (a payload that
// does not encode, an unnamed step, a bad option) is kept and returned
// by Build and Submit. The graph itself — cycles, unknown dependencies
// and kinds, payloads against their kinds' schemas — is checked whole by
// the gateway, which names the field it refuses.
type WorkflowBuilder struct {
	req WorkflowRequest
	err error
}

// NewWorkflow starts a workflow named name (shown in lists; may be
// empty).
func NewWorkflow(name string) *WorkflowBuilder {
	return &WorkflowBuilder{req: WorkflowRequest{Name: name}}
}

// ContinueOnFailure sets the failure policy "continue": a failed step
// skips only the steps that depend on it. The default, "stop", cancels
// what has not run yet.
func (b *WorkflowBuilder) ContinueOnFailure() *WorkflowBuilder {
	b.req.FailurePolicy = jobs.FailureContinue
	return b
}

// IdempotencyKey makes the submit safe to repeat: the same key answers
// the workflow it created.
func (b *WorkflowBuilder) IdempotencyKey(key string) *WorkflowBuilder {
	b.req.IdempotencyKey = key
	return b
}

// Step adds a step running args's kind with args as its payload.
func (b *WorkflowBuilder) Step(name string, args Args, opts ...StepOption) *WorkflowBuilder {
	if args == nil {
		b.fail(fmt.Errorf("step %q: args is nil", name))
		return b
	}
	return b.StepKind(name, args.Kind().Name, args, opts...)
}

// StepKind adds a step of kind by name with payload (encoded with
// encoding/json; nil is an empty payload), for kinds without a Go type.
func (b *WorkflowBuilder) StepKind(name, kind string, payload any, opts ...StepOption) *WorkflowBuilder {
	if name == "" {
		b.fail(errors.New("a step needs a name"))
		return b
	}
	s := WorkflowStepRequest{Name: name, Kind: kind}
	if payload != nil {
		raw, err := json.Marshal(payload)
		if err != nil {
			b.fail(fmt.Errorf("step %q: encode payload: %w", name, err))
			return b
		}
		s.Payload = raw
	}
	for _, o := range opts {
		if err := o(&s); err != nil {
			b.fail(fmt.Errorf("step %q: %w", name, err))
			return b
		}
	}
	b.req.Steps = append(b.req.Steps, s)
	return b
}

func (b *WorkflowBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Build returns the request, or the first mistake made while building.
func (b *WorkflowBuilder) Build() (WorkflowRequest, error) {
	if b.err != nil {
		return WorkflowRequest{}, fmt.Errorf("hopper: build workflow: %w", b.err)
	}
	if len(b.req.Steps) == 0 {
		return WorkflowRequest{}, errors.New("hopper: build workflow: no steps")
	}
	return b.req, nil
}

// Submit builds the request and submits it with c (see SubmitWorkflow).
func (b *WorkflowBuilder) Submit(ctx context.Context, c *Client) (WorkflowAccepted, error) {
	req, err := b.Build()
	if err != nil {
		return WorkflowAccepted{}, err
	}
	return c.SubmitWorkflow(ctx, req)
}

// StepOption sets an optional part of a step.
type StepOption func(*WorkflowStepRequest) error

// DependsOn runs the step once every named step has succeeded.
func DependsOn(steps ...string) StepOption {
	return func(s *WorkflowStepRequest) error {
		for _, d := range steps {
			if !slices.Contains(s.DependsOn, d) {
				s.DependsOn = append(s.DependsOn, d)
			}
		}
		return nil
	}
}

// FanOut runs the step once per element of items: each job's payload is
// the step's plus "item" (the element) and "index" (its position).
func FanOut[T any](items []T) StepOption {
	return func(s *WorkflowStepRequest) error {
		fe := &ForEach{Items: make([]json.RawMessage, len(items))}
		for i, it := range items {
			raw, err := json.Marshal(it)
			if err != nil {
				return fmt.Errorf("fan-out element %d: %w", i, err)
			}
			fe.Items[i] = raw
		}
		s.ForEach = fe
		return nil
	}
}

// FanOutFrom runs the step once per element of the list at path (dotted,
// e.g. "pages.chunks"; "" for the whole result) in step's result, and
// makes the step depend on step.
func FanOutFrom(step, path string) StepOption {
	return func(s *WorkflowStepRequest) error {
		s.ForEach = &ForEach{From: step, Path: path}
		return DependsOn(step)(s)
	}
}

// StepPriority sets the step's priority, 0 (lowest) to 5.
func StepPriority(level int) StepOption {
	return func(s *WorkflowStepRequest) error {
		if level < 0 || level > 5 {
			return fmt.Errorf("priority %d: want 0-5", level)
		}
		s.Options.Priority = json.RawMessage(strconv.Itoa(level))
		return nil
	}
}

// StepMaxAttempts sets how many attempts each of the step's jobs gets.
func StepMaxAttempts(n int) StepOption {
	return func(s *WorkflowStepRequest) error {
		s.Options.MaxAttempts = &n
		return nil
	}
}

// StepTimeout bounds each attempt of the step's jobs.
func StepTimeout(d time.Duration) StepOption {
	return func(s *WorkflowStepRequest) error {
		if d <= 0 {
			return fmt.Errorf("timeout %s: want a positive duration", d)
		}
		raw, _ := json.Marshal(d.String()) // a string always encodes
		s.Options.Timeout = raw
		return nil
	}
}
