package broker

import (
	"context"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// DefaultPrefetch is the prefetch when ConsumerOptions.Prefetch is unset.
// Small on purpose: whatever sits in the client buffer has already left the
// priority queue, so a large prefetch defeats priorities.
const DefaultPrefetch = 1

// ConsumerOptions tune a Consumer.
type ConsumerOptions struct {
	// Queues are short queue names ("chat"); empty means every queue of
	// the topology.
	Queues []string
	// Prefetch is the basic.qos count per consumer, about the worker's
	// concurrency. Default DefaultPrefetch.
	Prefetch int
	// Tag prefixes consumer tags and names the connection, so the
	// management UI shows which worker instance holds which deliveries.
	Tag string
	// Logger receives connection events; nil logs nothing.
	Logger *zap.Logger
	// OnReconnect, when set, is called each time consuming resumes after a
	// connection or channel loss (metrics).
	OnReconnect func()
	// PausedQueues, when set, tells which queues are paused fleet-wide
	// (e.g. read from Postgres). It is read at the start of every session,
	// so a pause decided while this instance was away or down is honoured
	// before it consumes; see Pause.
	PausedQueues func(ctx context.Context) ([]string, error)
}

// Delivery is a message from one of the consumed queues. The caller must
// Ack it, or Nack(false, false) / Reject(false) to dead-letter it. If the
// connection is lost before that, the ack fails and the broker redelivers
// the message.
type Delivery struct {
	amqp.Delivery
	// Queue is the short name of the queue it came from.
	Queue string
}

// Consumer consumes queues with manual acks over its own connection and
// forwards the deliveries to one channel that survives reconnects.
type Consumer struct {
	onReconnect func()
	sessions    atomic.Int64
	url         string
	topo        Topology
	queues      []string
	prefetch    int
	tag         string
	log         *zap.Logger

	out     chan Delivery
	ready   atomic.Bool
	running atomic.Bool
	// conn is the live connection; kept for tests that simulate its loss.
	conn atomic.Pointer[amqp.Connection]
	// pause holds the paused queues and the live session's consumers.
	pause pauseState
}

// NewConsumer returns a Consumer for the broker at url. It does not
// connect until Run.
func NewConsumer(url string, topo Topology, opts ConsumerOptions) *Consumer {
	queues := opts.Queues
	if len(queues) == 0 {
		for _, q := range topo.Queues {
			queues = append(queues, q.Name)
		}
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = DefaultPrefetch
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Consumer{
		onReconnect: opts.OnReconnect,
		url:         url,
		topo:        topo,
		queues:      append([]string(nil), queues...),
		prefetch:    opts.Prefetch,
		tag:         opts.Tag,
		log:         log.With(zap.String("component", "broker.consumer"), zap.Strings("queues", queues)),
		// Unbuffered: a delivery waits in the library (bounded by
		// prefetch) until a worker slot actually takes it.
		out:   make(chan Delivery),
		pause: pauseState{source: opts.PausedQueues},
	}
}

// Deliveries is the stream of deliveries from every consumed queue. It
// stays the same across reconnects and is closed when Run returns.
func (c *Consumer) Deliveries() <-chan Delivery { return c.out }

// Ready reports whether the consumer is connected and consuming.
func (c *Consumer) Ready() bool { return c.ready.Load() }
