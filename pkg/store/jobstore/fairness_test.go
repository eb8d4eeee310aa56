package jobstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// cappedUser is a user on a fresh plan whose fairness cap (max_concurrent
// per queue) is limit; 0 turns the cap off.
func cappedUser(t *testing.T, s *store.Store, limit int) accounts.User {
	t.Helper()
	u := storetest.User(t, s)
	plan := testkit.UniqueName("fair")
	require.NoError(t, s.Gorm().WithContext(t.Context()).Exec(
		`INSERT INTO plans (name, max_concurrent) VALUES (?, ?)`, plan, limit).Error)
	setPlan(t, s, u.ID, plan)
	return u
}

func setPlan(t *testing.T, s *store.Store, user uuid.UUID, plan string) {
	t.Helper()
	require.NoError(t, s.Gorm().WithContext(t.Context()).Exec(`UPDATE users SET plan = ? WHERE id = ?`, plan, user).Error)
}

func setCap(t *testing.T, s *store.Store, user uuid.UUID, limit int) {
	t.Helper()
	require.NoError(t, s.Gorm().WithContext(t.Context()).Exec(
		`UPDATE plans SET max_concurrent = ? WHERE name = (SELECT plan FROM users WHERE id = ?)`, limit, user).Error)
}

// jobWithPriority creates a queued noop job of owner with priority p.
func jobWithPriority(t *testing.T, s *store.Store, owner uuid.UUID, p int) jobstore.Job {
	t.Helper()
	spec := storetest.Spec(t, time.Time{})
	spec.Priority = jobs.Priority(p)
	j, _, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: owner, Spec: spec}, time.Now())
	require.NoError(t, err)
	require.Equal(t, jobs.StateQueued, j.State)
	return j
}

func reload(t *testing.T, s *store.Store, id uuid.UUID) jobstore.Job {
	t.Helper()
	j, err := s.GetJob(t.Context(), nil, id)
	require.NoError(t, err)
	return j
}

// Over the cap a job is held: not in the outbox, not claimable, released
// by ReleaseHeld as in-flight jobs finish, highest priority first, then
// oldest.
func TestFairnessHoldsAndReleasesInOrder(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := cappedUser(t, s, 2)

	a := jobWithPriority(t, s, u.ID, 3)
	b := jobWithPriority(t, s, u.ID, 3)
	assert.False(t, a.Held)
	assert.False(t, b.Held)
	low := jobWithPriority(t, s, u.ID, 1)
	old := jobWithPriority(t, s, u.ID, 3)
	high := jobWithPriority(t, s, u.ID, 5)
	for _, j := range []jobstore.Job{low, old, high} {
		assert.True(t, j.Held, "over the cap of 2")
	}

	// The outbox never sees held jobs; a stale delivery cannot claim one.
	stale, err := s.Unpublished(ctx, time.Now().Add(time.Hour), 100)
	require.NoError(t, err)
	assert.ElementsMatch(t, []uuid.UUID{a.ID, b.ID}, ids(stale))
	_, err = s.Claim(ctx, high.ID, "w1", storetest.Lease)
	require.ErrorIs(t, err, jobstore.ErrNotClaimed)

	// No room: nothing released.
	rel, err := s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	assert.Empty(t, rel)

	// A claim keeps the job in flight; a finish frees one slot.
	ra, err := s.Claim(ctx, a.ID, "w1", storetest.Lease)
	require.NoError(t, err)
	rel, err = s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	assert.Empty(t, rel, "running still counts")
	storetest.Finish(t, s, ra, jobs.StateSucceeded)
	rel, err = s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{high.ID}, ids(rel), "highest priority first")
	assert.False(t, rel[0].Held)

	// The released job is an ordinary queued job: outbox and claim see it.
	stale, err = s.Unpublished(ctx, time.Now().Add(time.Hour), 100)
	require.NoError(t, err)
	assert.Contains(t, ids(stale), high.ID)

	rb, err := s.Claim(ctx, b.ID, "w1", storetest.Lease)
	require.NoError(t, err)
	storetest.Finish(t, s, rb, jobs.StateFailed)
	rel, err = s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{old.ID}, ids(rel), "then the oldest of equal priority")
	assert.True(t, reload(t, s, low.ID).Held)

	// Releasing appends no event: the state did not change.
	assert.Equal(t, []string{"created/queued/0"}, storetest.Timeline(t, s, old.ID))
}

// Concurrent submits (as from several gateways) never admit past the cap.
func TestFairnessConcurrentSubmitsRespectCap(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	u := cappedUser(t, s, 3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, _, err := storetest.CreateJob(t.Context(), s, jobstore.NewJob{OwnerID: u.ID, Spec: storetest.Spec(t, time.Time{})}, time.Now())
			if !assert.NoError(t, err) {
				return
			}
			if !j.Held {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 3, admitted)
}

// A batch admits up to the cap and holds the rest; other users and other
// queues are not affected.
func TestFairnessBatchAndScope(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := cappedUser(t, s, 4)
	other := cappedUser(t, s, 4)
	batch := make([]jobstore.NewJob, 10)
	for i := range batch {
		batch[i] = jobstore.NewJob{OwnerID: u.ID, Spec: storetest.Spec(t, time.Time{})}
	}
	created, err := storetest.CreateJobs(ctx, s, batch, time.Now())
	require.NoError(t, err)
	held := 0
	for _, j := range created {
		if j.Held {
			held++
		}
	}
	assert.Equal(t, 6, held)
	assert.False(t, storetest.Job(t, s, other.ID).Held, "another user has their own cap")

	// Another queue has its own count.
	reg := storetest.Registry(t)
	var otherQueue jobs.Kind
	for _, name := range reg.Names() {
		k, _ := reg.Lookup(name)
		if k.Queue != created[0].Queue {
			otherQueue = k
			break
		}
	}
	require.NotEmpty(t, otherQueue.Name)
	spec := storetest.Spec(t, time.Time{})
	spec.Kind = otherQueue
	j, _, err := storetest.CreateJob(ctx, s, jobstore.NewJob{OwnerID: u.ID, Spec: spec}, time.Now())
	require.NoError(t, err)
	assert.False(t, j.Held, "queue %s has room", otherQueue.Queue)
}

// A held job is queued: cancelling it works at once, and ReleaseHeld
// never picks it up afterwards.
func TestFairnessCancelHeld(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := cappedUser(t, s, 1)
	first := storetest.Job(t, s, u.ID)
	h := storetest.Job(t, s, u.ID)
	require.True(t, h.Held)
	c, err := s.Cancel(ctx, &u.ID, h.ID)
	require.NoError(t, err)
	assert.Equal(t, jobs.StateCancelled, c.State)
	r, err := s.Claim(ctx, first.ID, "w1", storetest.Lease)
	require.NoError(t, err)
	storetest.Finish(t, s, r, jobs.StateSucceeded)
	rel, err := s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	assert.Empty(t, rel)
	assert.Equal(t, jobs.StateCancelled, reload(t, s, h.ID).State)

	// Retrying the cancelled job re-checks the cap: there is room now.
	rt, err := s.Retry(ctx, &u.ID, h.ID, 1)
	require.NoError(t, err)
	assert.False(t, rt.Held)
	// And with no room, a retried job is held until there is.
	f := storetest.Running(t, s, cappedUser(t, s, 1).ID, "w1")
	owner := f.OwnerID
	storetest.Finish(t, s, f, jobs.StateFailed)
	busy := storetest.Job(t, s, owner)
	require.False(t, busy.Held)
	rt, err = s.Retry(ctx, &owner, f.ID, 1)
	require.NoError(t, err)
	assert.True(t, rt.Held)
}

// The reaper's and a worker's retries free the slot; the due job comes
// back through the cap (held when there is no room, admitted in age
// order). A graceful-shutdown release stays in flight: it admits nothing.
func TestFairnessReaperRetryAndRelease(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := cappedUser(t, s, 1)
	run := storetest.Running(t, s, u.ID, "w1")
	waiting := storetest.Job(t, s, u.ID)
	require.True(t, waiting.Held)

	// Released on shutdown: back to queued, still in flight, not held.
	_, err := s.Finish(ctx, jobstore.Outcome{JobID: run.ID, Attempt: run.Attempt, WorkerID: "w1", State: jobs.StateQueued})
	require.NoError(t, err)
	rel, err := s.GetJob(ctx, nil, run.ID)
	require.NoError(t, err)
	assert.False(t, rel.Held)
	admitted, err := s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	assert.Empty(t, admitted, "a released job still takes its slot")

	// The worker dies: the reaper retries the job, which frees the slot.
	run, err = s.Claim(ctx, run.ID, "w2", time.Millisecond)
	require.NoError(t, err)
	reaped, err := s.ReapExpired(ctx, time.Now().Add(time.Second), 10, nil)
	require.NoError(t, err)
	require.Len(t, reaped, 1)
	assert.Equal(t, jobs.StateRetrying, reaped[0].State)
	admitted, err = s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{waiting.ID}, ids(admitted))

	// The retry comes due while the slot is taken: held, then admitted
	// when the slot frees.
	due, err := s.PromoteDue(ctx, time.Now().Add(time.Second), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.True(t, due[0].Held)
	w, err := s.Claim(ctx, waiting.ID, "w3", storetest.Lease)
	require.NoError(t, err)
	storetest.Finish(t, s, w, jobs.StateSucceeded)
	admitted, err = s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{run.ID}, ids(admitted))
	r, err := s.Claim(ctx, run.ID, "w3", storetest.Lease)
	require.NoError(t, err)
	assert.Equal(t, 2, r.Attempt)
}

// A plan with no cap holds nothing; turning a cap off releases every held
// job; lowering it below in flight only waits.
func TestFairnessCapChanges(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	free := cappedUser(t, s, 0)
	for range 10 {
		assert.False(t, storetest.Job(t, s, free.ID).Held)
	}

	u := cappedUser(t, s, 1)
	storetest.Job(t, s, u.ID)
	for range 5 {
		require.True(t, storetest.Job(t, s, u.ID).Held)
	}
	setCap(t, s, u.ID, 0)
	rel, err := s.ReleaseHeld(ctx, 2)
	require.NoError(t, err)
	assert.Len(t, rel, 2, "bounded by the limit")
	rel, err = s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	assert.Len(t, rel, 3)
}

// A job waiting behind held jobs of its priority is held even when a slot
// just freed: no jumping the line before the dispatcher's release.
func TestFairnessNoLineJumping(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := cappedUser(t, s, 1)
	first := storetest.Running(t, s, u.ID, "w1")
	held := jobWithPriority(t, s, u.ID, 3)
	require.True(t, held.Held)
	storetest.Finish(t, s, first, jobs.StateSucceeded)
	late := jobWithPriority(t, s, u.ID, 3)
	assert.True(t, late.Held, "the older held job goes first")
	urgent := jobWithPriority(t, s, u.ID, 5)
	assert.False(t, urgent.Held, "a higher priority may take the free slot")
	rel, err := s.ReleaseHeld(ctx, 100)
	require.NoError(t, err)
	assert.Empty(t, rel)
}

// An owner without a cap is never held, in a batch or alone; a change to
// a capped plan, by moving the user or by setting the plan's cap, applies
// to the very next submit, counting the jobs admitted while uncapped.
func TestFairnessPlanChangeAppliesToNextSubmit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(t *testing.T, s *store.Store) accounts.User
		capTo func(t *testing.T, s *store.Store, user uuid.UUID, limit int)
	}{{
		name: "from plan unlimited to a capped plan",
		start: func(t *testing.T, s *store.Store) accounts.User {
			u := storetest.User(t, s)
			setPlan(t, s, u.ID, "unlimited")
			return u
		},
		capTo: func(t *testing.T, s *store.Store, user uuid.UUID, limit int) {
			plan := testkit.UniqueName("fair")
			require.NoError(t, s.Gorm().WithContext(t.Context()).Exec(
				`INSERT INTO plans (name, max_concurrent) VALUES (?, ?)`, plan, limit).Error)
			setPlan(t, s, user, plan)
		},
	}, {
		name:  "the plan gets a cap",
		start: func(t *testing.T, s *store.Store) accounts.User { return cappedUser(t, s, 0) },
		capTo: setCap,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := storetest.New(t)
			u := tc.start(t, s)
			batch := make([]jobstore.NewJob, 50)
			for i := range batch {
				batch[i] = jobstore.NewJob{OwnerID: u.ID, Spec: storetest.Spec(t, time.Time{})}
			}
			created, err := storetest.CreateJobs(t.Context(), s, batch, time.Now())
			require.NoError(t, err)
			for _, j := range created {
				require.False(t, j.Held, "no cap applies")
			}
			require.False(t, storetest.Job(t, s, u.ID).Held)

			// 51 in flight: a cap of 52 admits one more, then holds.
			tc.capTo(t, s, u.ID, 52)
			assert.False(t, storetest.Job(t, s, u.ID).Held)
			assert.True(t, storetest.Job(t, s, u.ID).Held)
			created, err = storetest.CreateJobs(t.Context(), s, batch[:3], time.Now())
			require.NoError(t, err)
			require.Len(t, created, 3)
			for _, j := range created {
				assert.True(t, j.Held)
			}
		})
	}
}

// Admission takes the owner's lock that the dispatcher's release takes
// (hopper_fair_lock), and only for an owner with a cap: an uncapped
// owner's insert never waits on it.
func TestFairnessAdmissionLock(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	capped := cappedUser(t, s, 2)
	free := cappedUser(t, s, 0)

	tx := s.Gorm().WithContext(ctx).Begin()
	require.NoError(t, tx.Error)
	defer tx.Rollback()
	for _, u := range []accounts.User{capped, free} {
		require.NoError(t, tx.Exec(`SELECT hopper_fair_lock(?)`, u.ID).Error)
	}
	type result struct {
		job jobstore.Job
		err error
	}
	submit := func(owner uuid.UUID) <-chan result {
		done := make(chan result, 1)
		go func() {
			j, _, err := storetest.CreateJob(ctx, s, jobstore.NewJob{OwnerID: owner, Spec: storetest.Spec(t, time.Time{})}, time.Now())
			done <- result{j, err}
		}()
		return done
	}

	// The uncapped owner's submit goes through at once.
	select {
	case r := <-submit(free.ID):
		require.NoError(t, r.err)
		assert.False(t, r.job.Held)
	case <-time.After(10 * time.Second):
		t.Fatal("an uncapped owner's submit waited on the fairness lock")
	}

	// The capped owner's waits for the lock.
	cappedDone := submit(capped.ID)
	select {
	case <-cappedDone:
		t.Fatal("a capped owner's submit did not wait on the fairness lock")
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, tx.Commit().Error)
	select {
	case r := <-cappedDone:
		require.NoError(t, r.err)
		assert.False(t, r.job.Held)
	case <-time.After(10 * time.Second):
		t.Fatal("the capped owner's submit did not resume after the lock was released")
	}
}
