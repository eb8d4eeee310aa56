package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/testkit"
)

// The Go client (pkg/hopper) against the real gateway, Postgres and
// RabbitMQ: what its unit tests assume of the server, the server does.

// goClient is a hopper.Client of s with key.
func (s *stack) goClient(key string) *hopper.Client {
	s.t.Helper()
	c, err := hopper.NewClient(s.base, key)
	require.NoError(s.t, err)
	return c
}

func clientTestContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Deadline)
	t.Cleanup(cancel)
	return ctx
}

// sleepPayload is system.sleep's payload.
type sleepPayload struct {
	MS   int    `json:"ms"`
	Fail string `json:"fail,omitempty"`
}

// TestClientEnqueueWaitAndEvents: a job enqueued through the client runs,
// Wait returns it finished with its result, and Events sees its progress
// and timeline in order, the terminal event last; EnqueueMany submits a
// batch the same way.
func TestClientEnqueueWaitAndEvents(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	c := s.goClient(key)
	ctx := clientTestContext(t)

	t.Run("enqueue and wait", func(t *testing.T) {
		res, err := c.Enqueue(ctx, "system.noop", nil, hopper.WithPriorityName("high"), hopper.WithMaxAttempts(2))
		require.NoError(t, err)
		assert.Equal(t, hopper.JobStateQueued, res.State)
		assert.False(t, res.Replayed)

		job, err := c.Wait(ctx, res.ID)
		require.NoError(t, err)
		assert.Equal(t, hopper.JobStateSucceeded, job.State)
		assert.Equal(t, 5, job.Priority)
		assert.Equal(t, 2, job.MaxAttempts)
		assert.Equal(t, 1, job.Attempts)
		require.NotNil(t, job.FinishedAt)
		var out struct {
			OK      bool `json:"ok"`
			Attempt int  `json:"attempt"`
		}
		require.NoError(t, job.DecodeResult(&out))
		assert.Equal(t, true, out.OK)
		assert.Equal(t, 1, out.Attempt)
		assert.Equal(t, []string{"created", "started", "succeeded"}, eventTypesOf(job))
	})

	t.Run("a permanent failure is an answer", func(t *testing.T) {
		res, err := c.Enqueue(ctx, "system.sleep", sleepPayload{MS: 0, Fail: "permanent"})
		require.NoError(t, err)
		job, err := c.Wait(ctx, res.ID)
		require.NoError(t, err)
		assert.Equal(t, hopper.JobStateFailed, job.State)
		assert.Contains(t, job.Error, "asked to fail permanently")
		assert.ErrorIs(t, job.DecodeResult(&struct{}{}), hopper.ErrNoResult)

		// Retry runs it again with the kind's attempts.
		retried, err := c.Retry(ctx, res.ID)
		require.NoError(t, err)
		assert.Equal(t, hopper.JobStateQueued, retried.State)
		job, err = c.Wait(ctx, res.ID)
		require.NoError(t, err)
		assert.Equal(t, hopper.JobStateFailed, job.State)
		assert.Equal(t, 2, job.Attempts)

		// The stream of a retried job goes past its first failure to the
		// last one.
		var timeline []string
		for ev, err := range c.Events(ctx, res.ID) {
			require.NoError(t, err)
			if !ev.IsProgress() {
				timeline = append(timeline, ev.Type)
			}
		}
		assert.Equal(t, eventTypesOf(job), timeline)
		assert.Equal(t, []string{"created", "started", "failed", "retried", "started", "failed"}, timeline)
	})

	t.Run("events in order", func(t *testing.T) {
		res, err := c.Enqueue(ctx, "system.sleep", sleepPayload{MS: 2000}, hopper.WithJobTimeout(45*time.Second))
		require.NoError(t, err)
		var timeline []string
		var progress []int
		var last hopper.JobEvent
		for ev, err := range c.Events(ctx, res.ID) {
			require.NoError(t, err)
			assert.Equal(t, res.ID, ev.JobID)
			assert.False(t, ev.At.IsZero())
			if ev.IsProgress() {
				assert.NotContains(t, timeline, "succeeded", "progress after the terminal event")
				if ev.State == hopper.JobStateRunning {
					progress = append(progress, ev.Progress)
					assert.NotEmpty(t, ev.StatusMessage)
				}
			} else {
				assert.Greater(t, ev.ID, last.ID, "timeline ids increase")
				timeline = append(timeline, ev.Type)
				last = ev
			}
		}
		assert.Equal(t, []string{"created", "started", "succeeded"}, timeline)
		assert.True(t, last.Terminal(), "the stream ends with the terminal event")
		require.GreaterOrEqual(t, len(progress), 3, "progress while running: %v", progress)
		for i := 1; i < len(progress); i++ {
			assert.Greater(t, progress[i], progress[i-1], "progress increases: %v", progress)
		}

		job, err := c.Get(ctx, res.ID)
		require.NoError(t, err)
		assert.JSONEq(t, `{"slept_ms":2000}`, string(job.Result))
		assert.Equal(t, 45*time.Second, job.Timeout)
	})

	t.Run("enqueue many", func(t *testing.T) {
		results, err := c.EnqueueMany(ctx, []hopper.BatchItem{
			{Kind: "system.noop"},
			{Kind: "system.sleep", Payload: sleepPayload{MS: 50}, Options: []hopper.EnqueueOption{hopper.WithPriority(4)}},
			{Kind: "system.noop", Payload: map[string]int{"n": 3}},
		})
		require.NoError(t, err)
		require.Len(t, results, 3)
		for _, r := range results {
			job, err := c.Wait(ctx, r.ID)
			require.NoError(t, err)
			assert.Equal(t, hopper.JobStateSucceeded, job.State, r.ID)
		}
		job, err := c.Get(ctx, results[1].ID)
		require.NoError(t, err)
		assert.Equal(t, "system.sleep", job.Kind, "results are in request order")
		assert.Equal(t, 4, job.Priority)
		assert.JSONEq(t, `{"n":3}`, string(mustGet(t, c, results[2].ID).Payload))

		_, err = c.EnqueueMany(ctx, []hopper.BatchItem{{Kind: "system.noop"}, {Kind: "system.nope"}})
		var apiErr *hopper.APIError
		require.ErrorAs(t, err, &apiErr)
		assert.ErrorIs(t, err, hopper.ErrUnprocessable)
		require.NotNil(t, apiErr.Details.Index)
		assert.Equal(t, 1, *apiErr.Details.Index, "the bad job is named")
	})
}

// TestClientErrorsAreAPIErrors: the gateway's error answers reach the
// caller as *hopper.APIError with code, message and details, matching the
// sentinels; an idempotent replay returns the same job.
func TestClientErrorsAreAPIErrors(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	c := s.goClient(key)
	ctx := clientTestContext(t)

	// 422: an unknown kind, with the valid ones.
	_, err := c.Enqueue(ctx, "system.nope", nil)
	var apiErr *hopper.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, hopper.ErrUnprocessable)
	assert.Equal(t, 422, apiErr.Status)
	assert.Equal(t, "unprocessable", apiErr.Code)
	assert.Contains(t, apiErr.Message, `unknown kind "system.nope"`)
	assert.Equal(t, "kind", apiErr.Details.Field)
	assert.Contains(t, apiErr.Details.ValidKinds, "system.sleep")

	// 422 for an option out of range, naming the field.
	_, err = c.Enqueue(ctx, "system.noop", nil, hopper.WithMaxAttempts(99))
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, "max_attempts", apiErr.Details.Field)

	// An Idempotency-Key replays the job; reused for another payload, 409.
	first, err := c.Enqueue(ctx, "system.noop", map[string]int{"n": 1}, hopper.WithIdempotencyKey("order-1"))
	require.NoError(t, err)
	again, err := c.Enqueue(ctx, "system.noop", map[string]int{"n": 1}, hopper.WithIdempotencyKey("order-1"))
	require.NoError(t, err)
	assert.Equal(t, first.ID, again.ID)
	assert.False(t, first.Replayed)
	assert.True(t, again.Replayed)
	_, err = c.Enqueue(ctx, "system.noop", map[string]int{"n": 2}, hopper.WithIdempotencyKey("order-1"))
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, hopper.ErrConflict)
	assert.Equal(t, first.ID, apiErr.Details.JobID)

	// 409: cancel or retry in the wrong state.
	done, err := c.Wait(ctx, first.ID)
	require.NoError(t, err)
	require.Equal(t, hopper.JobStateSucceeded, done.State)
	_, err = c.Cancel(ctx, first.ID)
	assert.ErrorIs(t, err, hopper.ErrConflict)
	_, err = c.Retry(ctx, first.ID)
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, hopper.ErrConflict)
	assert.Equal(t, hopper.JobStateSucceeded, apiErr.Details.State)

	// 404: no such job, or another user's, for every call and the stream.
	_, other := s.newUser("user")
	stranger := s.goClient(other)
	_, err = stranger.Get(ctx, first.ID)
	assert.ErrorIs(t, err, hopper.ErrNotFound)
	_, err = stranger.Wait(ctx, first.ID)
	assert.ErrorIs(t, err, hopper.ErrNotFound)
	for _, err := range stranger.Events(ctx, first.ID) {
		assert.ErrorIs(t, err, hopper.ErrNotFound)
	}
	_, err = c.Get(ctx, "00000000-0000-0000-0000-000000000000")
	assert.ErrorIs(t, err, hopper.ErrNotFound)

	// 401: a wrong key.
	_, err = s.goClient("not-a-key").List(ctx, hopper.JobFilter{})
	assert.ErrorIs(t, err, hopper.ErrUnauthorized)

	// 429 over a plan's jobs_per_hour, with Retry-After.
	code, out := s.do("POST", "/v1/admin/plans", s.admin, map[string]any{"name": "one-an-hour", "jobs_per_hour": 1}, nil)
	require.Equal(t, 201, code, out)
	_, slowKey := s.newUserOnPlan("user", "one-an-hour")
	slow := s.goClient(slowKey)
	_, err = slow.Enqueue(ctx, "system.noop", nil)
	require.NoError(t, err)
	_, err = slow.Enqueue(ctx, "system.noop", nil)
	require.ErrorAs(t, err, &apiErr)
	assert.ErrorIs(t, err, hopper.ErrRateLimited)
	assert.Equal(t, "rate_limited", apiErr.Code)
	assert.Positive(t, apiErr.RetryAfter)
	assert.Equal(t, "jobs_per_hour", apiErr.Details.Limit)
	assert.Equal(t, 1, apiErr.Details.Max)
}

// TestClientCancelRunningJob: cancelling a running job asks its worker to
// stop; Wait then returns it cancelled.
func TestClientCancelRunningJob(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true})
	_, key := s.newUser("user")
	c := s.goClient(key)
	ctx := clientTestContext(t)

	res, err := c.Enqueue(ctx, "system.sleep", sleepPayload{MS: 60_000})
	require.NoError(t, err)
	for ev, err := range c.Events(ctx, res.ID) {
		require.NoError(t, err)
		if ev.Type == "started" {
			break
		}
	}
	job, err := c.Cancel(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateRunning, job.State, "a running job is asked to stop")
	assert.True(t, job.CancelRequested)

	job, err = c.Wait(ctx, res.ID)
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateCancelled, job.State)
	assert.Contains(t, eventTypesOf(job), "cancel_requested")

	// A waiting job is cancelled at once.
	later, err := c.Enqueue(ctx, "system.noop", nil, hopper.WithRunAt(job.CreatedAt.Add(testkit.Deadline*10)))
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateScheduled, later.State)
	job, err = c.Cancel(ctx, later.ID)
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateCancelled, job.State)
}

// TestClientListPagesWithCursor: List pages through the caller's jobs
// newest first with the cursor, filtered by kind and state; ListAll
// follows the cursors itself.
func TestClientListPagesWithCursor(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{}) // no worker: the jobs stay queued
	_, key := s.newUser("user")
	c := s.goClient(key)
	ctx := clientTestContext(t)

	var ids []string
	for range 5 {
		res, err := c.Enqueue(ctx, "system.noop", nil)
		require.NoError(t, err)
		ids = append(ids, res.ID)
	}
	_, err := c.Enqueue(ctx, "system.sleep", sleepPayload{MS: 1})
	require.NoError(t, err)
	newestFirst := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}

	f := hopper.JobFilter{Kind: "system.noop", States: []hopper.JobState{hopper.JobStateQueued, hopper.JobStateRunning}, Limit: 2}
	var got []string
	pages := 0
	for {
		page, err := c.List(ctx, f)
		require.NoError(t, err)
		pages++
		for _, j := range page.Jobs {
			assert.Equal(t, "system.noop", j.Kind)
			got = append(got, j.ID)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	assert.Equal(t, newestFirst, got)
	assert.Equal(t, 3, pages)

	got = nil
	for j, err := range c.ListAll(ctx, hopper.JobFilter{Kind: "system.noop", Limit: 2}) {
		require.NoError(t, err)
		got = append(got, j.ID)
	}
	assert.Equal(t, newestFirst, got)

	page, err := c.List(ctx, hopper.JobFilter{States: []hopper.JobState{hopper.JobStateSucceeded}})
	require.NoError(t, err)
	assert.Empty(t, page.Jobs)
	assert.Empty(t, page.NextCursor)

	_, err = c.List(ctx, hopper.JobFilter{Cursor: "garbage"})
	assert.ErrorAs(t, err, new(*hopper.APIError))
}

func mustGet(t *testing.T, c *hopper.Client, id string) hopper.JobInfo {
	t.Helper()
	job, err := c.Get(clientTestContext(t), id)
	require.NoError(t, err)
	return job
}

func eventTypesOf(job hopper.JobInfo) []string {
	types := make([]string, len(job.Events))
	for i, e := range job.Events {
		types[i] = e.Type
	}
	return types
}
