package jobs_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

func TestCanTransition(t *testing.T) {
	tests := []struct {
		from, to jobs.State
		want     bool
	}{
		{jobs.StateQueued, jobs.StateRunning, true},
		{jobs.StateScheduled, jobs.StateQueued, true},
		{jobs.StateRunning, jobs.StateSucceeded, true},
		{jobs.StateRunning, jobs.StateRetrying, true},
		{jobs.StateRunning, jobs.StateQueued, true}, // release on shutdown
		{jobs.StateRetrying, jobs.StateQueued, true},
		{jobs.StateFailed, jobs.StateQueued, true}, // explicit retry
		{jobs.StateSucceeded, jobs.StateQueued, false},
		{jobs.StateSucceeded, jobs.StateCancelled, false},
		{jobs.StateQueued, jobs.StateSucceeded, false},
		{jobs.StateScheduled, jobs.StateRunning, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.from)+"->"+string(tt.to), func(t *testing.T) {
			assert.Equal(t, tt.want, jobs.CanTransition(tt.from, tt.to))
		})
	}
}

func TestTerminal(t *testing.T) {
	for _, s := range jobs.AllStates {
		want := s == jobs.StateSucceeded || s == jobs.StateFailed || s == jobs.StateCancelled
		assert.Equal(t, want, s.Terminal(), s)
		assert.True(t, s.Valid())
	}
	_, err := jobs.ParseState("done")
	assert.Error(t, err)
}

func TestParsePriority(t *testing.T) {
	tests := []struct {
		raw     string
		want    jobs.Priority
		wantErr string
	}{
		{`"low"`, 1, ""},
		{`"normal"`, 3, ""},
		{`"high"`, 5, ""},
		{`0`, 0, ""},
		{`5`, 5, ""},
		{`"4"`, 4, ""},
		{`6`, 0, "out of range"},
		{`-1`, 0, "out of range"},
		{`2.5`, 0, "integer"},
		{`"urgent"`, 0, "want low, normal, high"},
		{`true`, 0, "priority must be"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			p, err := jobs.ParsePriority(json.RawMessage(tt.raw))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p)
		})
	}
	assert.Equal(t, "high", jobs.PriorityHigh.String())
	assert.Equal(t, "2", jobs.Priority(2).String())
	for p := jobs.Priority(0); p <= jobs.MaxPriority; p++ {
		assert.Equal(t, p >= jobs.PriorityHigh, p.Urgent(), "priority %d", p)
	}
}

func TestDefaultRegistry(t *testing.T) {
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	for _, name := range reg.Names() {
		k, ok := reg.Lookup(name)
		require.True(t, ok)
		assert.NotEmpty(t, k.Queue)
		assert.LessOrEqual(t, k.DefaultPriority, jobs.MaxPriority)
	}
	k, ok := reg.Lookup(jobs.KindSleep)
	require.True(t, ok)
	assert.Equal(t, "maintenance", k.Queue)
}

func TestNewRegistryRejects(t *testing.T) {
	good := jobs.Kind{Name: "a.b", Queue: "q", MaxAttempts: 1, Timeout: time.Second}
	tests := map[string][]jobs.Kind{
		"empty name":    {{Queue: "q", MaxAttempts: 1, Timeout: time.Second}},
		"wildcard name": {{Name: "a.#", Queue: "q", MaxAttempts: 1, Timeout: time.Second}},
		"no queue":      {{Name: "a", MaxAttempts: 1, Timeout: time.Second}},
		"no attempts":   {{Name: "a", Queue: "q", Timeout: time.Second}},
		"no timeout":    {{Name: "a", Queue: "q", MaxAttempts: 1}},
		"priority":      {{Name: "a", Queue: "q", MaxAttempts: 1, Timeout: time.Second, DefaultPriority: 9}},
		"duplicate":     {good, good},
	}
	for name, kinds := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := jobs.NewRegistry(kinds...)
			assert.Error(t, err)
		})
	}
}

func TestValidate(t *testing.T) {
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	intp := func(n int) *int { return &n }
	future := time.Now().Add(time.Hour)

	tests := []struct {
		name      string
		req       jobs.SubmitRequest
		wantField string
		check     func(t *testing.T, s jobs.Spec)
	}{
		{name: "defaults", req: jobs.SubmitRequest{Kind: jobs.KindNoop},
			check: func(t *testing.T, s jobs.Spec) {
				assert.Equal(t, jobs.PriorityNormal, s.Priority)
				assert.Equal(t, 3, s.MaxAttempts)
				assert.JSONEq(t, `{}`, string(s.Payload))
				assert.Equal(t, jobs.StateQueued, s.InitialState(time.Now()))
			}},
		{name: "overrides", req: jobs.SubmitRequest{Kind: jobs.KindSleep, Payload: json.RawMessage(`{"ms":5}`),
			Priority: json.RawMessage(`"high"`), MaxAttempts: intp(7), Timeout: json.RawMessage(`"90s"`), RunAt: &future},
			check: func(t *testing.T, s jobs.Spec) {
				assert.Equal(t, jobs.PriorityHigh, s.Priority)
				assert.Equal(t, 7, s.MaxAttempts)
				assert.Equal(t, 90*time.Second, s.Timeout)
				assert.Equal(t, jobs.StateScheduled, s.InitialState(time.Now()))
			}},
		{name: "timeout seconds", req: jobs.SubmitRequest{Kind: jobs.KindNoop, Timeout: json.RawMessage(`2.5`)},
			check: func(t *testing.T, s jobs.Spec) { assert.Equal(t, 2500*time.Millisecond, s.Timeout) }},
		{name: "missing kind", req: jobs.SubmitRequest{}, wantField: "kind"},
		{name: "unknown kind", req: jobs.SubmitRequest{Kind: "chat.nope"}, wantField: "kind"},
		{name: "payload array", req: jobs.SubmitRequest{Kind: jobs.KindNoop, Payload: json.RawMessage(`[1]`)}, wantField: "payload"},
		{name: "priority range", req: jobs.SubmitRequest{Kind: jobs.KindNoop, Priority: json.RawMessage(`9`)}, wantField: "priority"},
		{name: "attempts range", req: jobs.SubmitRequest{Kind: jobs.KindNoop, MaxAttempts: intp(0)}, wantField: "max_attempts"},
		{name: "timeout too long", req: jobs.SubmitRequest{Kind: jobs.KindNoop, Timeout: json.RawMessage(`"3h"`)}, wantField: "timeout"},
		{name: "timeout junk", req: jobs.SubmitRequest{Kind: jobs.KindNoop, Timeout: json.RawMessage(`"soon"`)}, wantField: "timeout"},
		{name: "webhook", req: jobs.SubmitRequest{Kind: jobs.KindNoop, WebhookURL: "ftp://x"}, wantField: "webhook_url"},
		{name: "payload too big", req: jobs.SubmitRequest{Kind: jobs.KindNoop,
			Payload: json.RawMessage(`{"x":"` + strings.Repeat("a", jobs.MaxPayloadBytes) + `"}`)}, wantField: "payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := reg.Validate(tt.req)
			if tt.wantField != "" {
				var ve *jobs.ValidationError
				require.True(t, errors.As(err, &ve), "want a ValidationError, got %v", err)
				assert.Equal(t, tt.wantField, ve.Field)
				return
			}
			require.NoError(t, err)
			tt.check(t, spec)
		})
	}

	_, err = reg.Validate(jobs.SubmitRequest{Kind: "nope"})
	var ve *jobs.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.True(t, ve.UnknownKind)
	assert.Contains(t, ve.Message, jobs.KindNoop)
}

func TestValidateIdempotencyKey(t *testing.T) {
	assert.NoError(t, jobs.ValidateIdempotencyKey(""))
	assert.NoError(t, jobs.ValidateIdempotencyKey("order-42"))
	assert.Error(t, jobs.ValidateIdempotencyKey(strings.Repeat("k", 256)))
	assert.Error(t, jobs.ValidateIdempotencyKey("a\nb"))
}

func TestBackoff(t *testing.T) {
	k := jobs.Kind{BackoffBase: time.Second, BackoffCap: 10 * time.Second}
	tests := []struct {
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{1, 0.5, 500 * time.Millisecond},
		{2, 0.5, time.Second},
		{3, 0.5, 2 * time.Second},
		{10, 0.5, 5 * time.Second}, // capped at 10s
		{1, 0, 0},
		{0, 0.5, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, jobs.Backoff(k, tt.attempt, tt.rnd), "attempt %d", tt.attempt)
	}
	assert.Less(t, jobs.Backoff(k, 50, 1.0), 10*time.Second)
}

func TestParseWebhookURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		ok   bool
		host string
	}{
		{raw: "https://hooks.example.com/x", ok: true, host: "hooks.example.com"},
		{raw: "http://127.0.0.1:8080/", ok: true, host: "127.0.0.1"}, // addresses are webhook.CheckURL's rule
		{raw: "ftp://hooks.example.com/x"},
		{raw: "hooks.example.com/x"},
		{raw: "https:///x"},
		{raw: "http://:80/"},
		{raw: "https://hooks.example.com/" + strings.Repeat("a", 2048)},
		{raw: "https://hooks.example.com/#frag\x01ment"}, // net/url allows it in the fragment
		{raw: "https://hooks.example.com/\xff"},
	}
	for _, tc := range tests {
		t.Run(tc.raw[:min(len(tc.raw), 40)], func(t *testing.T) {
			t.Parallel()
			u, err := jobs.ParseWebhookURL(tc.raw)
			if !tc.ok {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.host, u.Hostname())
		})
	}
}

func TestSameAddress(t *testing.T) {
	assert.True(t, jobs.SameAddress("ada@example.com", "ada@example.com"))
	assert.True(t, jobs.SameAddress("Ada Lovelace <Ada@Example.com>", "ada@example.com"))
	assert.False(t, jobs.SameAddress("ada@example.com", "bob@example.com"))
	assert.False(t, jobs.SameAddress("ada@example.com", "ada@example.com.evil"))
	assert.False(t, jobs.SameAddress("not an address", "not an address"))
}
