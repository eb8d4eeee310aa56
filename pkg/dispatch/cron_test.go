package dispatch_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/schedules"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestCronLeaderFailover: two dispatchers on one schema elect one leader,
// which runs the schedules; an @every 1s schedule gets one published job
// per tick, and when the leader stops the other takes over without a
// duplicate or a lost beat.
func TestCronLeaderFailover(t *testing.T) {
	t.Parallel()
	dsn := testkit.DatabaseURL(t)
	prefix := testkit.Prefix(t)
	ctx := t.Context()
	log := zaptest.NewLogger(t)
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)

	open := func() *store.Store {
		s, err := store.Open(ctx, dsn, store.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	st := open()
	require.NoError(t, st.Migrate(ctx))

	pub := broker.NewPublisher(testkit.AMQPURL(), testTopology(prefix, ""), broker.PublisherOptions{AppID: "cron-test", Logger: log})
	var wg sync.WaitGroup
	pubCtx, stopPub := context.WithCancel(ctx)
	wg.Go(func() { _ = pub.Run(pubCtx) })

	type loop struct {
		disp *dispatch.Dispatcher
		stop context.CancelFunc
		done chan struct{}
	}
	start := func() *loop {
		d, err := dispatch.New(dispatch.Options{Store: open(), Publisher: pub, Registry: reg, Logger: log,
			LockKey: prefix, Interval: 50 * time.Millisecond, OutboxAge: 500 * time.Millisecond})
		require.NoError(t, err)
		dctx, cancel := context.WithCancel(ctx)
		l := &loop{disp: d, stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(l.done)
			assert.NoError(t, d.Run(dctx))
		}()
		return l
	}
	loops := []*loop{start(), start()}
	t.Cleanup(func() {
		for _, l := range loops {
			l.stop()
			<-l.done
		}
		stopPub()
		wg.Wait()
	})
	testkit.WaitFor(t, testkit.Deadline, func() bool { return loops[0].disp.Leading() != loops[1].disp.Leading() },
		"exactly one dispatcher leads")

	sc, err := st.CreateSchedule(ctx, schedules.NewSchedule{Name: "beat", Spec: "@every 1s", Kind: jobs.KindNoop, Enabled: true}, time.Now())
	require.NoError(t, err)
	jobsOf := func() []jobstore.Job {
		list, err := st.ScheduleJobs(ctx, sc)
		require.NoError(t, err)
		return list
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(jobsOf()) >= 3 }, "three ticks")

	leader, standby := loops[0], loops[1]
	if !leader.disp.Leading() {
		leader, standby = standby, leader
	}
	leader.stop()
	<-leader.done
	before := len(jobsOf())
	testkit.WaitFor(t, testkit.Deadline, standby.disp.Leading, "the standby takes over")
	testkit.WaitFor(t, testkit.Deadline, func() bool { return len(jobsOf()) >= before+3 }, "three more ticks")

	list := jobsOf()
	var ticks []string
	for _, j := range list {
		require.NotNil(t, j.IdempotencyKey)
		ticks = append(ticks, *j.IdempotencyKey)
	}
	assert.True(t, sort.StringsAreSorted(ticks), "one job per tick, in tick order: %v", ticks)
	for i := 1; i < len(ticks); i++ {
		assert.NotEqual(t, ticks[i-1], ticks[i])
	}
	// Every created job gets published (by the cron step, or the outbox).
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		for _, j := range jobsOf()[:len(list)] {
			if j.PublishedAt == nil {
				return false
			}
		}
		return true
	}, "the jobs are published")
}
