package app_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/testkit"
)

// A purged queue loses the messages of jobs already marked published:
// the outbox no longer covers them. The dispatcher leader publishes
// again what stayed unclaimed for HOPPER_REPUBLISH_AFTER, so every job
// still runs, and the republishes are counted.
func TestPurgedQueueJobsAreRepublished(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_REPUBLISH_AFTER": "1s"}})
	_, key := s.newUser("user")
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.submit(key, map[string]any{"kind": "system.noop"})
	}

	// No worker yet: the jobs wait in RabbitMQ, confirmed and marked.
	st, err := store.Open(t.Context(), s.cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		var unmarked int64
		require.NoError(t, st.Gorm().Raw(`SELECT count(*) FROM jobs WHERE published_at IS NULL`).Scan(&unmarked).Error)
		return unmarked == 0
	}, "every job marked published")

	conn, err := amqp.Dial(testkit.AMQPURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	require.NoError(t, err)
	purged, err := ch.QueuePurge(s.cfg.AMQPPrefix+".maintenance", false)
	require.NoError(t, err)
	require.GreaterOrEqual(t, purged, n, "the jobs' messages were in the queue")
	left, err := st.Unpublished(t.Context(), time.Now().Add(time.Hour), 500)
	require.NoError(t, err)
	require.Empty(t, left, "nothing is in the outbox: only the republish can save them")

	s.startWorker(4, 0)
	for _, id := range ids {
		s.waitState(key, id, "succeeded")
	}
	assert.GreaterOrEqual(t, republished(t, s.metrics+"/metrics"), float64(n), "republishes are counted")
}

// republished reads hopper_jobs_republished_total for the maintenance queue.
func republished(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^hopper_jobs_republished_total\{queue="maintenance",service="gateway"\} (\S+)$`).FindSubmatch(raw)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}
