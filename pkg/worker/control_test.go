package worker

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/broker"
)

// fakeQueues records what the control loop and the registry ask of the
// consumer.
type fakeQueues struct {
	mu     sync.Mutex
	calls  []string
	paused []string
	err    error
}

func (f *fakeQueues) Pause(q string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "pause "+q)
	return f.err
}

func (f *fakeQueues) Resume(q string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "resume "+q)
	return f.err
}

func (f *fakeQueues) SetPaused(qs []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = append([]string{}, qs...)
	return f.err
}

func (f *fakeQueues) Paused() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.paused...)
}

func (f *fakeQueues) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func TestControlLoopQueueSignals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		signals []broker.ControlMessage
		err     error
		want    []string
	}{
		{"pause", []broker.ControlMessage{{Type: broker.ControlPause, Queue: "maintenance"}}, nil, []string{"pause maintenance"}},
		{"resume", []broker.ControlMessage{{Type: broker.ControlResume, Queue: "chat"}}, nil, []string{"resume chat"}},
		{"in order", []broker.ControlMessage{
			{Type: broker.ControlPause, Queue: "chat"}, {Type: broker.ControlResume, Queue: "chat"}, {Type: broker.ControlPause, Queue: "document"},
		}, nil, []string{"pause chat", "resume chat", "pause document"}},
		{"no queue named", []broker.ControlMessage{{Type: broker.ControlPause}}, nil, nil},
		{"other signals leave queues alone", []broker.ControlMessage{
			{Type: broker.ControlCancel, JobID: "not-a-uuid"}, {Type: "reboot", Queue: "chat"},
		}, nil, nil},
		{"consumer error is survived", []broker.ControlMessage{
			{Type: broker.ControlPause, Queue: "chat"}, {Type: broker.ControlResume, Queue: "chat"},
		}, errors.New("channel closed"), []string{"pause chat", "resume chat"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := &fakeQueues{err: tc.err}
			signals := make(chan broker.ControlMessage, len(tc.signals))
			for _, m := range tc.signals {
				signals <- m
			}
			close(signals)
			loop := &controlLoop{signals: signals, proc: NewProcessor(Options{}), queues: q, log: zaptest.NewLogger(t)}
			require.NoError(t, loop.Run(context.Background()))
			assert.Equal(t, tc.want, q.Calls())
		})
	}
}

func TestControlLoopWithoutQueues(t *testing.T) {
	t.Parallel()
	signals := make(chan broker.ControlMessage, 1)
	signals <- broker.ControlMessage{Type: broker.ControlPause, Queue: "chat"}
	close(signals)
	loop := &controlLoop{signals: signals, proc: NewProcessor(Options{}), log: zaptest.NewLogger(t)}
	require.NoError(t, loop.Run(context.Background()), "a loop with no consumer ignores queue signals")
}
