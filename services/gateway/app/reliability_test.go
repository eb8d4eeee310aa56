package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

func TestRetryEndpoint(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	_, other := s.newUser("user")

	id := s.submit(key, map[string]any{"kind": "system.sleep", "max_attempts": 1,
		"payload": map[string]any{"ms": 0, "fail": "transient"}})
	job := s.waitState(key, id, "failed")
	require.Equal(t, float64(1), job["attempts"])

	code, _ := s.do("POST", "/v1/jobs/"+id+"/retry", other, nil, nil)
	assert.Equal(t, 404, code, "another user's job")

	code, out := s.do("POST", "/v1/jobs/"+id+"/retry", key, nil, nil)
	require.Equal(t, 202, code, out)
	assert.Equal(t, "queued", out["state"])

	// It runs again: a second attempt fails the same way (3 is the kind's budget).
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, job = s.do("GET", "/v1/jobs/"+id, key, nil, nil)
		return job["state"] == "failed" && job["attempts"].(float64) == 4
	}, "retried job to use its new attempts (last: %v attempts %v)", job["state"], job["attempts"])
	assert.Contains(t, eventTypes(job), "retried")

	ok := s.submit(key, map[string]any{"kind": "system.noop"})
	s.waitState(key, ok, "succeeded")
	code, out = s.do("POST", "/v1/jobs/"+ok+"/retry", key, nil, nil)
	assert.Equal(t, 409, code, out)
}

func TestRetriesRecordEveryError(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	id := s.submit(key, map[string]any{"kind": "system.sleep", "max_attempts": 3,
		"payload": map[string]any{"ms": 0, "fail": "transient"}})
	job := s.waitState(key, id, "failed")
	assert.Equal(t, float64(3), job["attempts"])
	assert.Equal(t, []string{"created", "started", "retrying", "queued", "started", "retrying", "queued", "started", "failed"}, eventTypes(job))
	for i, e := range job["events"].([]any) {
		ev := e.(map[string]any)
		if ev["type"] == "retrying" || ev["type"] == "failed" {
			assert.Contains(t, ev["message"], "asked to fail (attempt", "event %d records its attempt's error", i)
		}
	}
}

func TestTimeoutCountsAsFailure(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	id := s.submit(key, map[string]any{"kind": "system.sleep", "max_attempts": 1, "timeout": "300ms",
		"payload": map[string]any{"ms": 30000}})
	job := s.waitState(key, id, "failed")
	assert.Contains(t, job["error"], "timed out after 300ms")
	assert.Contains(t, job["error"], "sleep interrupted")

	code, out := s.do("POST", "/v1/jobs", key, map[string]any{"kind": "system.noop", "timeout": "2h"}, nil)
	assert.Equal(t, 422, code, out)
}

// TestCancelRunningViaControl: with heartbeats far apart (the default
// lease/3 = 10s), only the control fanout can stop the job within 2s.
func TestCancelRunningViaControl(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	s.startWorker(2, 0)
	_, key := s.newUser("user")
	id := s.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 30000}})
	s.waitState(key, id, "running")

	asked := time.Now()
	code, out := s.do("DELETE", "/v1/jobs/"+id, key, nil, nil)
	require.Equal(t, 202, code, out)
	job := s.waitState(key, id, "cancelled")
	took := time.Since(asked)
	t.Logf("running job cancelled %s after DELETE", took)
	assert.Less(t, took, 2*time.Second)
	events := job["events"].([]any)
	last := events[len(events)-1].(map[string]any)
	assert.Contains(t, last["message"], "sleep interrupted", "the handler saw its context end")
}

// TestPoisonMessagesDeadLettered: a delivery that cannot be decoded, or
// names no job, goes to the dead-letter queue instead of looping.
func TestPoisonMessagesDeadLettered(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	conn, err := amqp.Dial(testkit.AMQPURL())
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	prefix := s.cfg.AMQPPrefix

	bodies := []string{`not json`, `{"job_id":""}`, `{"job_id":"` + uuid.NewString() + `","attempt":1}`}
	for _, b := range bodies {
		err := ch.PublishWithContext(context.Background(), prefix+".jobs", "system.noop", false, false,
			amqp.Publishing{Body: []byte(b), DeliveryMode: amqp.Persistent})
		require.NoError(t, err)
	}
	var got []string
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		d, ok, err := ch.Get(prefix+".dead", true)
		require.NoError(t, err)
		if ok {
			got = append(got, string(d.Body))
		}
		return len(got) == len(bodies)
	}, "poison messages in %s.dead (got %d)", prefix, len(got))
	assert.ElementsMatch(t, bodies, got)
}
