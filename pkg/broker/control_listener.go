package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// controlBuffer is how many decoded signals wait for the reader before the
// listener stops taking more off the connection.
const controlBuffer = 16

// ControlListenerOptions tune a ControlListener.
type ControlListenerOptions struct {
	// Name identifies the instance (e.g. its worker id) in the connection
	// name shown by the management UI.
	Name string
	// Logger receives connection events; nil logs nothing.
	Logger *zap.Logger
}

// ControlListener receives control signals over its own connection, on a
// server-named, exclusive, auto-delete queue bound to the control
// exchange. Each worker instance runs one, so a signal published once
// reaches every instance alive at that moment; the queue goes away with
// the connection, so a stopped instance leaves nothing behind.
type ControlListener struct {
	url  string
	topo Topology
	name string
	log  *zap.Logger

	out     chan ControlMessage
	ready   atomic.Bool
	running atomic.Bool
	// firstReady is closed the first time the listener consumes.
	firstReady chan struct{}
	readyOnce  sync.Once

	// conn, ch and queue are the live connection, channel and queue name;
	// kept for tests that simulate their loss.
	conn  atomic.Pointer[amqp.Connection]
	ch    atomic.Pointer[amqp.Channel]
	queue atomic.Pointer[string]
}

// NewControlListener returns a listener for the broker at url. It does not
// connect until Run.
func NewControlListener(url string, topo Topology, opts ControlListenerOptions) *ControlListener {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	name := opts.Name
	if name == "" {
		name = "hopper"
	}
	return &ControlListener{
		url:        url,
		topo:       topo,
		name:       name,
		log:        log.With(zap.String("component", "broker.control"), zap.String("exchange", topo.ControlExchange())),
		out:        make(chan ControlMessage, controlBuffer),
		firstReady: make(chan struct{}),
	}
}

// Signals delivers decoded control messages. It stays the same across
// reconnects and is closed when Run returns.
func (l *ControlListener) Signals() <-chan ControlMessage { return l.out }

// Ready reports whether the listener is bound and consuming.
func (l *ControlListener) Ready() bool { return l.ready.Load() }

// WaitReady blocks until the listener consumes for the first time or ctx
// ends. A worker waits for it before consuming jobs, so no job it runs can
// miss a cancel signal.
func (l *ControlListener) WaitReady(ctx context.Context) error {
	select {
	case <-l.firstReady:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: wait for control listener: %w", ctx.Err())
	}
}

// Run connects, declares the topology and its own queue, and forwards
// signals to Signals() until ctx ends. On connection or channel loss it
// reconnects with capped exponential backoff, on a fresh queue (the old
// one died with its connection): signals sent while it was away are lost,
// which the job's cancel flag in Postgres makes up for. When ctx ends it
// closes the connection (the broker deletes the queue), closes Signals()
// and returns nil.
func (l *ControlListener) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("broker: control listener Run called twice (it is not restartable: Signals closes when it returns)")
	}
	defer close(l.out)

	return reconnectLoop(ctx, l.log, "control listener", l.runSession)
}

// runSession serves one connection. established reports whether it got as
// far as consuming, which resets the reconnect backoff.
func (l *ControlListener) runSession(ctx context.Context) (established bool, err error) {
	conn, err := dial(ctx, l.url, l.name+" control")
	if err != nil {
		return false, err
	}
	l.conn.Store(conn)
	defer func() {
		l.conn.Store(nil)
		l.ch.Store(nil)
		_ = conn.Close() // ErrClosed when already gone: fine
	}()
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))

	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("broker: open control channel: %w", err)
	}
	l.ch.Store(ch)
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := l.topo.Declare(ch); err != nil {
		return false, err
	}
	// Exclusive queues must be classic, whatever the topology's queue type
	// is; the type is explicit so a broker default cannot change it.
	q, err := ch.QueueDeclare("", false, true, true, false, amqp.Table{"x-queue-type": QueueTypeClassic})
	if err != nil {
		return false, fmt.Errorf("broker: declare control queue: %w", err)
	}
	if err := ch.QueueBind(q.Name, "", l.topo.ControlExchange(), false, nil); err != nil {
		return false, fmt.Errorf("broker: bind %s to %s: %w", q.Name, l.topo.ControlExchange(), err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("broker: consume %s: %w", q.Name, err)
	}

	sessCtx, cancel := context.WithCancel(ctx)
	f := &controlForwarder{in: deliveries, out: l.out, log: l.log}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_ = f.Run(sessCtx)
	}()
	// The forwarder must be gone before Run closes Signals().
	defer func() {
		cancel()
		l.ready.Store(false)
		_ = conn.Close()
		<-ended
	}()

	l.queue.Store(&q.Name)
	l.ready.Store(true)
	l.readyOnce.Do(func() { close(l.firstReady) })
	l.log.Info("control listener ready", zap.String("queue", q.Name))

	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case e := <-connClosed:
		return true, closeCause("connection", e)
	case e := <-chClosed:
		return true, closeCause("channel", e)
	case <-ended:
		// The broker cancelled the consumer (e.g. the queue was deleted).
		return true, fmt.Errorf("broker: consumer of control queue %s cancelled", q.Name)
	}
}
