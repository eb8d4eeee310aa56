package jobstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// startNotifier migrates the schema dsn selects and runs a JobNotifier on
// it until the test ends; it returns once the notifier listens.
func startNotifier(t *testing.T, dsn string) (*store.Store, *jobstore.JobNotifier) {
	t.Helper()
	s := storetest.Open(t, dsn)
	require.NoError(t, s.Migrate(t.Context()))
	n := jobstore.NewJobNotifier(dsn, zaptest.NewLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	testkit.WaitFor(t, testkit.Deadline, n.Listening, "notifier listening")
	return s, n
}

// longSchemaURL creates a schema whose name is too long to fit in a
// identifier as is (the notifier must still find its tables) and returns a
// URL selecting it.
func longSchemaURL(t *testing.T) string {
	t.Helper()
	schema := testkit.UniqueName("t_") + "_" + strings.Repeat("x", 47)
	require.Len(t, schema, 60)
	admin := storetest.Open(t, testkit.BaseDatabaseURL())
	require.NoError(t, admin.Gorm().Exec(`CREATE SCHEMA "`+schema+`"`).Error)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, admin.Gorm().WithContext(ctx).Exec(`DROP SCHEMA "`+schema+`" CASCADE`).Error)
	})
	return testkit.WithSearchPath(testkit.BaseDatabaseURL(), schema)
}

func requireWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testkit.Deadline):
		t.Fatalf("no wake-up for %s", what)
	}
}

func drain(ch <-chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// probe proves the absence of a wake-up without sleeping: notifications
// of one channel arrive in commit order, so once a change made after the
// one under test has woken the sentinel, any wake-up for the change under
// test has been delivered too.
type probe struct {
	t        *testing.T
	s        *store.Store
	sentinel jobstore.Job
	wake     <-chan struct{}
	pct      int
}

func newProbe(t *testing.T, s *store.Store, n *jobstore.JobNotifier, owner uuid.UUID) *probe {
	t.Helper()
	j := storetest.Running(t, s, owner, "sentinel")
	ch, unsubscribe := n.Subscribe(j.ID)
	t.Cleanup(unsubscribe)
	// The first look that sees the sentinel wakes it; take that wake here,
	// or the first flush could return on it, before a look of its own.
	requireWake(t, ch, "sentinel first seen")
	return &probe{t: t, s: s, sentinel: j, wake: ch}
}

// flush returns once every notification committed so far is delivered.
func (p *probe) flush() {
	p.t.Helper()
	drain(p.wake)
	p.pct = p.pct%100 + 1
	_, err := p.s.Progress(p.t.Context(), p.sentinel.ID, p.sentinel.Attempt, p.sentinel.WorkerID, p.pct, "", storetest.Lease)
	require.NoError(p.t, err)
	requireWake(p.t, p.wake, "sentinel")
}

func TestJobNotifierWakesOnWatchedChanges(t *testing.T) {
	t.Parallel()
	schemas := []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{name: "short schema name", dsn: func(t *testing.T) string { return testkit.DatabaseURL(t) }},
		{name: "schema name hashed into the channel", dsn: longSchemaURL},
	}
	for _, sc := range schemas {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			s, n := startNotifier(t, sc.dsn(t))
			owner := storetest.User(t, s).ID
			p := newProbe(t, s, n, owner)
			j := storetest.Running(t, s, owner, "w1")
			ch, unsubscribe := n.Subscribe(j.ID)
			defer unsubscribe()
			ctx := t.Context()

			steps := []struct {
				name     string
				change   func() error
				wantWake bool
			}{
				{name: "heartbeat", wantWake: false, change: func() error {
					_, err := s.Heartbeat(ctx, j.ID, j.Attempt, "w1", storetest.Lease)
					return err
				}},
				{name: "progress", wantWake: true, change: func() error {
					_, err := s.Progress(ctx, j.ID, j.Attempt, "w1", 10, "a", storetest.Lease)
					return err
				}},
				{name: "same progress again", wantWake: false, change: func() error {
					_, err := s.Progress(ctx, j.ID, j.Attempt, "w1", 10, "a", storetest.Lease)
					return err
				}},
				{name: "status message only", wantWake: true, change: func() error {
					_, err := s.Progress(ctx, j.ID, j.Attempt, "w1", 10, "b", storetest.Lease)
					return err
				}},
				{name: "cancel requested", wantWake: true, change: func() error {
					_, err := s.Cancel(ctx, nil, j.ID)
					return err
				}},
				{name: "state change", wantWake: true, change: func() error {
					_, err := s.Finish(ctx, jobstore.Outcome{JobID: j.ID, Attempt: j.Attempt, WorkerID: "w1", State: jobs.StateCancelled})
					return err
				}},
			}
			for _, st := range steps {
				p.flush()
				drain(ch)
				require.NoError(t, st.change(), st.name)
				if st.wantWake {
					requireWake(t, ch, st.name)
					continue
				}
				p.flush()
				select {
				case <-ch:
					t.Fatalf("%s woke the subscriber", st.name)
				default:
				}
			}
		})
	}
}

func TestJobNotifierHearsOnlyItsSchema(t *testing.T) {
	t.Parallel()
	sA, nA := startNotifier(t, testkit.DatabaseURL(t))
	sB, _ := startNotifier(t, testkit.DatabaseURL(t))
	p := newProbe(t, sA, nA, storetest.User(t, sA).ID)

	other := storetest.Running(t, sB, storetest.User(t, sB).ID, "w1")
	ch, unsubscribe := nA.Subscribe(other.ID)
	defer unsubscribe()
	_, err := sB.Progress(t.Context(), other.ID, other.Attempt, "w1", 50, "elsewhere", storetest.Lease)
	require.NoError(t, err)
	p.flush()
	select {
	case <-ch:
		t.Fatal("a change in another schema woke the subscriber")
	default:
	}
}

func TestJobNotifierReconnects(t *testing.T) {
	t.Parallel()
	s, n := startNotifier(t, testkit.DatabaseURL(t))
	j := storetest.Running(t, s, storetest.User(t, s).ID, "w1")
	ch, unsubscribe := n.Subscribe(j.ID)
	defer unsubscribe()
	drain(ch)

	pid := n.BackendPID()
	require.NotZero(t, pid)
	require.NoError(t, s.Gorm().Exec("SELECT pg_terminate_backend(?)", pid).Error)
	// Losing the connection wakes subscribers so they poll meanwhile;
	// reconnecting wakes them again to re-read what they missed.
	requireWake(t, ch, "connection lost")
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		return n.Listening() && n.BackendPID() != 0 && n.BackendPID() != pid
	}, "notifier listening on a new connection")

	drain(ch)
	_, err := s.Progress(t.Context(), j.ID, j.Attempt, "w1", 30, "after reconnect", storetest.Lease)
	require.NoError(t, err)
	requireWake(t, ch, "progress after reconnect")
}

func TestJobNotifierUnsubscribe(t *testing.T) {
	t.Parallel()
	s, n := startNotifier(t, testkit.DatabaseURL(t))
	owner := storetest.User(t, s).ID
	p := newProbe(t, s, n, owner)
	j := storetest.Running(t, s, owner, "w1")

	// Two subscribers of one job both wake; one that left does not.
	ch1, unsub1 := n.Subscribe(j.ID)
	ch2, unsub2 := n.Subscribe(j.ID)
	defer unsub2()
	_, err := s.Progress(t.Context(), j.ID, j.Attempt, "w1", 10, "", storetest.Lease)
	require.NoError(t, err)
	requireWake(t, ch1, "first subscriber")
	requireWake(t, ch2, "second subscriber")

	unsub1()
	unsub1() // idempotent
	_, err = s.Progress(t.Context(), j.ID, j.Attempt, "w1", 20, "", storetest.Lease)
	require.NoError(t, err)
	requireWake(t, ch2, "remaining subscriber")
	p.flush()
	select {
	case <-ch1:
		t.Fatal("an ended subscription was woken")
	default:
	}
}

func TestJobSnapshot(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	owner := storetest.User(t, s)
	stranger := storetest.User(t, s)
	j := storetest.Finish(t, s, storetest.Running(t, s, owner.ID, "w1"), jobs.StateSucceeded)
	ctx := t.Context()

	_, all, err := s.JobSnapshot(ctx, nil, j.ID, 0)
	require.NoError(t, err)
	require.Len(t, all, 3)

	tests := []struct {
		name      string
		owner     *uuid.UUID
		after     int64
		wantTypes []string
		wantErr   error
	}{
		{name: "owner, whole timeline", owner: &owner.ID, wantTypes: []string{"created", "started", "succeeded"}},
		{name: "admin, after created", after: all[0].ID, wantTypes: []string{"started", "succeeded"}},
		{name: "after the last event", owner: &owner.ID, after: all[2].ID, wantTypes: nil},
		{name: "another owner", owner: &stranger.ID, wantErr: pg.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job, evs, err := s.JobSnapshot(ctx, tc.owner, j.ID, tc.after)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, jobs.StateSucceeded, job.State)
			var types []string
			for _, e := range evs {
				types = append(types, e.Type)
			}
			require.Equal(t, tc.wantTypes, types)
		})
	}
	_, _, err = s.JobSnapshot(ctx, nil, uuid.New(), 0)
	require.ErrorIs(t, err, pg.ErrNotFound)
}
