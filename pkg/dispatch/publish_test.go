package dispatch_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/testkit"
)

// JobPublisher publishes only the queued, admitted jobs of a list, in the
// list's order, and marks exactly the confirmed ones in one call; with
// no broker connection nothing is marked and the jobs stay in the
// outbox.
func TestJobPublisherPublishesDueJobsAndMarksThem(t *testing.T) {
	t.Parallel()
	prefix := testkit.Prefix(t)
	log := zaptest.NewLogger(t)
	topo := testTopology(prefix, "")
	pub := broker.NewPublisher(testkit.AMQPURL(), topo, broker.PublisherOptions{AppID: "publish-test", Logger: log})

	var (
		mu     sync.Mutex
		marked [][]uuid.UUID
	)
	p := &dispatch.JobPublisher{Broker: pub, Metrics: metrics.New("test"), Logger: log,
		Mark: func(_ context.Context, ids ...uuid.UUID) error {
			mu.Lock()
			defer mu.Unlock()
			marked = append(marked, ids)
			return nil
		}}
	job := func(state jobs.State, held bool) jobstore.Job {
		return jobstore.Job{ID: uuid.New(), OwnerID: uuid.New(), Kind: jobs.KindNoop, State: state, Held: held,
			Priority: int(jobs.PriorityNormal)}
	}
	list := []jobstore.Job{job(jobs.StateQueued, false), job(jobs.StateQueued, true), job(jobs.StateScheduled, false),
		job(jobs.StateQueued, false)}

	assert.Zero(t, p.Publish(t.Context(), list)(), "no connection yet: nothing confirmed")
	assert.Empty(t, marked)

	runPublisher(t, pub)

	assert.Equal(t, 2, p.Publish(t.Context(), list)())
	require.Len(t, marked, 1, "one mark for the whole list")
	assert.Equal(t, []uuid.UUID{list[0].ID, list[3].ID}, marked[0])

	assert.Equal(t, []uuid.UUID{list[0].ID, list[3].ID}, queueTaker(t, topo.QueueName("maintenance"))(),
		"the admitted queued jobs, in order")
}
