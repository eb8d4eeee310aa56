package hopper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strings"
	"time"

	"github.com/hopperq/hopper/pkg/jobs"
)

// WorkflowStepState is a step's state in a workflow's event stream, with
// how many of its jobs ended how.
type WorkflowStepState = jobs.WorkflowStepState

// WorkflowEvent is one message of a workflow's event stream.
type WorkflowEvent struct {
	// Type is "snapshot" (the workflow and every step, first on each
	// connection), "step" (one step changed) or "workflow" (the
	// workflow's state changed).
	Type       string
	WorkflowID string
	// State is the workflow's state (running, succeeded, failed,
	// cancelled).
	State string
	// Steps are every step (snapshot) or the one that changed (step).
	Steps []WorkflowStepState
	At    time.Time
}

// Terminal reports whether the event leaves the workflow over.
func (e WorkflowEvent) Terminal() bool { return e.State != "" && e.State != "running" }

// WorkflowEvents follows workflow id's event stream (GET
// /v1/workflows/{id}/events) until the workflow is over: a snapshot
// first, then each step's change and the workflow's state. A dropped
// connection is reopened and starts with a fresh snapshot, so treat a
// snapshot as "this is everything now". After several connections in a
// row fail, or on an answer a retry cannot fix (404, 401…), the sequence
// ends with a non-nil error as its last pair. Stop early by breaking out
// of the loop.
func (c *Client) WorkflowEvents(ctx context.Context, id string) iter.Seq2[WorkflowEvent, error] {
	return func(yield func(WorkflowEvent, error) bool) {
		if strings.TrimSpace(id) == "" {
			yield(WorkflowEvent{}, errors.New("hopper: workflow events: id is empty"))
			return
		}
		path := "/v1/workflows/" + url.PathEscape(id) + "/events"
		stopped := false
		err := c.reconnect(ctx, func(ctx context.Context) (bool, bool, error) {
			return c.workflowStreamOnce(ctx, path, func(e WorkflowEvent) bool {
				stopped = !yield(e, nil)
				return !stopped
			})
		})
		if err != nil && !stopped {
			yield(WorkflowEvent{}, fmt.Errorf("hopper: events of workflow %s: %w", id, err))
		}
	}
}

// workflowStreamOnce reads one connection of a workflow's stream: done
// once a terminal state was delivered and the stream ended, or on asked
// to stop.
func (c *Client) workflowStreamOnce(ctx context.Context, path string, on func(WorkflowEvent) bool) (progressed, done bool, err error) {
	conn, err := c.connect(ctx, path, 0)
	if err != nil {
		return false, false, err
	}
	defer conn.close()
	r, wrap := conn.sseReader, conn.wrap
	terminal := false
	for {
		m, err := r.next()
		if errors.Is(err, io.EOF) {
			if terminal {
				return true, true, nil
			}
			return progressed || r.comments > 0, false, wrap(io.ErrUnexpectedEOF)
		}
		if err != nil {
			return progressed || r.comments > 0, false, wrap(err)
		}
		e, known, err := m.workflowEvent()
		if err != nil {
			return progressed, false, wrap(err)
		}
		if !known {
			continue // a newer gateway's message: not for this client
		}
		terminal = e.Terminal()
		progressed = true
		if !on(e) {
			return true, true, nil
		}
	}
}

// workflowEvent decodes a workflow stream message; known is false for a
// type this client does not know.
func (m sseMessage) workflowEvent() (e WorkflowEvent, known bool, err error) {
	e.Type = m.event
	switch m.event {
	case "snapshot":
		var d jobs.WorkflowSnapshot
		err = json.Unmarshal([]byte(m.data), &d)
		e.WorkflowID, e.State, e.Steps, e.At = d.WorkflowID, d.State, d.Steps, d.At
	case "step":
		var d jobs.WorkflowStepEvent
		err = json.Unmarshal([]byte(m.data), &d)
		e.WorkflowID, e.State, e.Steps, e.At = d.WorkflowID, d.WorkflowState, []WorkflowStepState{d.WorkflowStepState}, d.At
	case "workflow":
		var d jobs.WorkflowStateEvent
		err = json.Unmarshal([]byte(m.data), &d)
		e.WorkflowID, e.State, e.At = d.WorkflowID, d.State, d.At
	default:
		return WorkflowEvent{}, false, nil
	}
	if err != nil {
		return WorkflowEvent{}, false, fmt.Errorf("%w: event %q data: %w", errStreamProtocol, m.event, err)
	}
	return e, true, nil
}
