package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/testkit"
)

// Score is a user's payload type: its kind is not built in.
type Score struct {
	Board string `json:"board"`
	Limit int    `json:"limit,omitempty"`
	// Snooze, when set, makes the first run snooze for that many ms.
	SnoozeMS int `json:"snooze_ms,omitempty"`
}

func (Score) Kind() hopper.KindSpec {
	return hopper.KindSpec{Name: "acme.score", Description: "score a board", MaxAttempts: 4,
		Timeout: 10 * time.Second, BackoffBase: 50 * time.Millisecond, BackoffCap: 100 * time.Millisecond}
}

type scoreResult struct {
	Board   string `json:"board"`
	Attempt int    `json:"attempt"`
}

// startSDKWorker runs a worker service named service, written on the
// public SDK, against the stack until the test ends.
func (s *stack) startSDKWorker(service string, register func(w *hopper.Worker)) {
	s.t.Helper()
	cfg, err := config.Load(service, s.getenv)
	require.NoError(s.t, err)
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: zaptest.NewLogger(s.t).Named(service)})
	require.NoError(s.t, err)
	register(w)
	s.running++
	go func() { s.done <- w.Run(s.ctx) }()
}

// TestSDKKind: a kind nobody had heard of is accepted by a running gateway
// once a worker written on the SDK starts, its payload is checked against
// the schema derived from the Go type, it runs with its own retry policy
// and the catalogue shows it with its live worker.
func TestSDKKind(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, key := s.newUser("user")

	code, out := s.do("POST", "/v1/jobs", key, map[string]any{"kind": "acme.score", "payload": map[string]any{"board": "b"}}, nil)
	require.Equal(t, 422, code, "unknown before its worker starts: %v", out)

	var snoozed atomic.Bool
	s.startSDKWorker("acme-worker", func(w *hopper.Worker) {
		hopper.Handle(w, func(ctx context.Context, j *hopper.Job[Score]) (scoreResult, error) {
			if j.Args.SnoozeMS > 0 && snoozed.CompareAndSwap(false, true) {
				return scoreResult{}, hopper.Snooze(time.Duration(j.Args.SnoozeMS) * time.Millisecond)
			}
			switch j.Args.Board {
			case "flaky":
				if j.Attempt < 3 {
					return scoreResult{}, fmt.Errorf("board not ready (attempt %d)", j.Attempt)
				}
			case "bad":
				return scoreResult{}, hopper.Permanent(errors.New("board is corrupt"))
			}
			j.Logger().Info("scoring")
			_ = j.Progress(ctx, 50, "half way")
			return scoreResult{Board: j.Args.Board, Attempt: j.Attempt}, nil
		})
	})

	// Accepted within seconds, with no gateway restart.
	var id string
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, out = s.do("POST", "/v1/jobs", key, map[string]any{"kind": "acme.score", "payload": map[string]any{"board": "top"}}, nil)
		if code == 202 {
			id = out["id"].(string)
		}
		return code == 202
	}, "acme.score accepted (last %d %v)", code, out)
	job := s.waitState(key, id, "succeeded")
	assert.Equal(t, map[string]any{"board": "top", "attempt": float64(1)}, job["result"])

	for _, tc := range []struct {
		payload map[string]any
		field   string
	}{
		{map[string]any{}, "payload.board"},
		{map[string]any{"board": 7}, "payload.board"},
		{map[string]any{"board": "x", "limt": 3}, "payload.limt"},
	} {
		code, out := s.do("POST", "/v1/jobs", key, map[string]any{"kind": "acme.score", "payload": tc.payload}, nil)
		require.Equal(t, 422, code, "%v: %v", tc.payload, out)
		e := out["error"].(map[string]any)
		assert.Contains(t, e["message"], tc.field, "the error names the field")
	}

	// Its own retry policy: retried with backoff, then succeeded.
	flaky := s.submit(key, map[string]any{"kind": "acme.score", "payload": map[string]any{"board": "flaky"}})
	job = s.waitState(key, flaky, "succeeded")
	assert.Equal(t, float64(3), job["attempts"])
	assert.Equal(t, []string{"created", "started", "retrying", "queued", "started", "retrying", "queued", "started", "succeeded"}, eventTypes(job))

	// Fail now: one attempt.
	bad := s.submit(key, map[string]any{"kind": "acme.score", "payload": map[string]any{"board": "bad"}})
	job = s.waitState(key, bad, "failed")
	assert.Equal(t, float64(1), job["attempts"])
	assert.Contains(t, job["error"], "board is corrupt")

	// Snooze: runs again later without using an attempt.
	sn := s.submit(key, map[string]any{"kind": "acme.score", "payload": map[string]any{"board": "s", "snooze_ms": 100}})
	job = s.waitState(key, sn, "succeeded")
	assert.Equal(t, float64(1), job["attempts"], "the snoozed run is not charged")
	assert.Contains(t, eventTypes(job), "snoozed")

	// The catalogue shows it, with its live worker and derived schema.
	code, out = s.do("GET", "/v1/kinds/acme.score", key, nil, nil)
	require.Equal(t, 200, code, out)
	assert.Equal(t, "acme", out["queue"])
	assert.Equal(t, "acme-worker", out["service"])
	assert.Equal(t, "score a board", out["description"])
	assert.Equal(t, float64(4), out["max_attempts"])
	assert.Equal(t, []any{"board"}, out["payload_schema"].(map[string]any)["required"])
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, out = s.do("GET", "/v1/kinds/acme.score", key, nil, nil)
		return out["workers"] == float64(1)
	}, "one live worker (last %v)", out["workers"])

	code, out = s.do("GET", "/v1/kinds", key, nil, nil)
	require.Equal(t, 200, code)
	var names []string
	for _, k := range out["kinds"].([]any) {
		names = append(names, k.(map[string]any)["name"].(string))
	}
	assert.Contains(t, names, "acme.score")
	assert.Contains(t, names, "system.noop")
}

// TestSDKRegistrationErrors: a mistake in a kind definition stops the
// worker at start with a clear error, before it consumes anything.
func TestSDKRegistrationErrors(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("acme-bad", func(string) string { return "" })
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		register func(w *hopper.Worker)
		want     string
	}{
		{"bad name", func(w *hopper.Worker) { w.HandleFunc("acme.#", noopHandler) }, "invalid"},
		{"twice", func(w *hopper.Worker) { w.HandleFunc("acme.a", noopHandler); w.HandleFunc("acme.a", noopHandler) }, "twice"},
		{"bad schema", func(w *hopper.Worker) {
			w.HandleKind(hopper.KindSpec{Name: "acme.s", Schema: []byte(`{"type": 5}`)}, noopHandler)
		}, "schema"},
		{"remote schema ref", func(w *hopper.Worker) {
			w.HandleKind(hopper.KindSpec{Name: "acme.r", Schema: []byte(`{"$ref": "http://127.0.0.1:1/x.json"}`)}, noopHandler)
		}, "only references inside the schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: zaptest.NewLogger(t)})
			require.NoError(t, err)
			tc.register(w)
			err = w.Run(t.Context())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func noopHandler(context.Context, *hopper.RawJob) (any, error) { return nil, nil }
