package jobstore_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

// TestEnqueueNotices: a finished job with notify_email gets exactly one
// notice job however many passes run; a job without one, or not finished,
// gets none; a retried job gets a second notice when it ends again.
func TestEnqueueNotices(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	reg := storetest.Registry(t)
	kind, ok := reg.Lookup(storetest.KindEmail)
	require.True(t, ok)

	create := func(notify string) jobstore.Job {
		spec := storetest.Spec(t, time.Time{})
		spec.NotifyEmail = notify
		j, _, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner.ID, Spec: spec}, time.Now())
		require.NoError(t, err)
		return j
	}
	build := func(f jobstore.Job) (jobstore.NewJob, error) {
		payload, err := json.Marshal(map[string]any{"to": []string{f.NotifyEmail}, "template": "job_finished", "job_id": f.ID.String()})
		if err != nil {
			return jobstore.NewJob{}, err
		}
		return jobstore.NewJob{OwnerID: f.OwnerID,
			Spec:           jobs.Spec{Kind: kind, Payload: payload, MaxAttempts: kind.MaxAttempts, Timeout: kind.Timeout},
			IdempotencyKey: fmt.Sprintf("notify:%s:%d:%s", f.ID, f.Attempt, f.State)}, nil
	}

	notified := create("ada@example.com")
	assert.Equal(t, "ada@example.com", notified.NotifyEmail)
	pending := create("bob@example.com") // never finishes
	create("")                           // asks for nothing

	c, err := s.Claim(t.Context(), notified.ID, "w1", storetest.Lease)
	require.NoError(t, err)
	failed := storetest.Finish(t, s, c, jobs.StateFailed)

	created, err := s.EnqueueNotices(t.Context(), build, 100, time.Now())
	require.NoError(t, err)
	require.Len(t, created, 1)
	assert.Equal(t, storetest.KindEmail, created[0].Kind)
	assert.Equal(t, owner.ID, created[0].OwnerID)
	assert.JSONEq(t, `{"to": ["ada@example.com"], "template": "job_finished", "job_id": "`+failed.ID.String()+`"}`, string(created[0].Payload))

	again, err := s.EnqueueNotices(t.Context(), build, 100, time.Now())
	require.NoError(t, err)
	assert.Empty(t, again, "stamped: no second notice")

	// A retry clears the stamp: the next end gets its own notice.
	_, err = s.Retry(t.Context(), &owner.ID, failed.ID, 1)
	require.NoError(t, err)
	c, err = s.Claim(t.Context(), failed.ID, "w2", storetest.Lease)
	require.NoError(t, err)
	storetest.Finish(t, s, c, jobs.StateSucceeded)
	created, err = s.EnqueueNotices(t.Context(), build, 100, time.Now())
	require.NoError(t, err)
	require.Len(t, created, 1)
	assert.NotEqual(t, pending.ID.String(), created[0].ID.String())
}
