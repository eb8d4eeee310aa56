package broker

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestPauseSurvivesReconnect: after the connection is lost, the consumer
// comes back without consuming the paused queue, and resumes it later.
func TestPauseSurvivesReconnect(t *testing.T) {
	t.Parallel()
	topo := testTopology(testkit.Prefix(t), "")
	var reconnects atomic.Int64
	c := newRunningConsumer(t, topo, ConsumerOptions{Queues: []string{"chat", "document"}, Tag: "ps",
		OnReconnect: func() { reconnects.Add(1) }})
	require.NoError(t, c.Pause("document"))

	old := c.conn.Load()
	require.NotNil(t, old)
	require.NoError(t, old.Close())
	waitNewConn(t, &c.conn, old, c.Ready)
	testkit.WaitFor(t, testkit.Deadline, func() bool { return reconnects.Load() == 1 }, "reconnect counted")

	side := sideChannel(t)
	consumers := func(q string) int {
		info, err := side.QueueDeclarePassive(topo.QueueName(q), true, false, false, false, nil)
		require.NoError(t, err)
		return info.Consumers
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool { return consumers("chat") == 1 && consumers("document") == 0 },
		"chat consumed, document still paused after the reconnect")

	require.NoError(t, c.Resume("document"))
	testkit.WaitFor(t, testkit.Deadline, func() bool { return consumers("document") == 1 }, "document consumed again")
}
