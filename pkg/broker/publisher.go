package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
)

// Publish outcomes. Callers keep a job in the outbox unless Publish
// returned nil, so every one of these is retryable by republishing later.
var (
	// ErrNotConnected: the publisher has no open channel; nothing was sent.
	ErrNotConnected = errors.New("not connected to the broker")
	// ErrConnectionLost: the message may or may not have reached a queue;
	// the connection closed before the broker confirmed it.
	ErrConnectionLost = errors.New("connection lost before the broker confirmed the message")
	// ErrUnroutable: no queue is bound for the routing key (the job kind),
	// so the broker dropped the message.
	ErrUnroutable = errors.New("unroutable: no queue is bound for the routing key")
	// ErrNacked: the broker refused the message (e.g. an internal error in
	// the queue process).
	ErrNacked = errors.New("the broker refused the message (nack)")
)

// DefaultWindow is the default bound on unconfirmed publishes.
const DefaultWindow = 256

// drainTimeout bounds how long shutdown waits for in-flight publishes to be
// confirmed before it closes the connection anyway.
const drainTimeout = 2 * time.Second

// PublisherOptions tune a Publisher.
type PublisherOptions struct {
	// AppID is set as the app_id of every message and names the
	// connection in the management UI (e.g. "gateway").
	AppID string
	// Window bounds unconfirmed publishes; further callers wait for a slot.
	// Default DefaultWindow.
	Window int
	// Logger receives connection events; nil logs nothing.
	Logger *zap.Logger
	// OnReconnect, when set, is called each time a connection is
	// re-established after a loss (metrics).
	OnReconnect func()
}

// Publisher publishes job envelopes to the jobs exchange with publisher
// confirms and mandatory routing, over its own connection. It is safe for
// concurrent use; Run must be running for Publish to succeed.
type Publisher struct {
	url    string
	topo   Topology
	appID  string
	window int
	log    *zap.Logger

	onReconnect func()
	sessions    atomic.Int64

	// slots holds one token per unconfirmed publish: a bounded window, so
	// a slow broker pushes back on callers instead of growing memory.
	slots chan struct{}

	running atomic.Bool
	// conn is the live connection; kept for tests that simulate its loss.
	conn atomic.Pointer[amqp.Connection]

	mu        sync.Mutex
	sess      *pubSession   // nil while not connected
	ready     chan struct{} // closed while sess != nil
	readyDone bool          // whether ready is closed
}

// NewPublisher returns a Publisher for the broker at url. It does not
// connect until Run.
func NewPublisher(url string, topo Topology, opts PublisherOptions) *Publisher {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.AppID == "" {
		opts.AppID = "hopper"
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Publisher{
		onReconnect: opts.OnReconnect,
		url:         url,
		topo:        topo,
		appID:       opts.AppID,
		window:      opts.Window,
		log:         log.With(zap.String("component", "broker.publisher")),
		slots:       make(chan struct{}, opts.Window),
		ready:       make(chan struct{}),
	}
}

// Ready reports whether the publisher is connected and the topology is
// declared.
func (p *Publisher) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess != nil
}

// WaitReady blocks until the publisher is ready or ctx ends.
func (p *Publisher) WaitReady(ctx context.Context) error {
	p.mu.Lock()
	ready := p.ready
	p.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: wait for publisher: %w", ctx.Err())
	}
}

func (p *Publisher) session() *pubSession {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess
}

func (p *Publisher) setSession(s *pubSession) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sess = s
	switch {
	case s != nil && !p.readyDone:
		close(p.ready)
		p.readyDone = true
	case s == nil && p.readyDone:
		p.ready = make(chan struct{})
		p.readyDone = false
	}
}

// Publish sends m to the jobs exchange with routing key m.Kind and waits
// until the broker confirms it. It returns nil only when the broker has
// taken responsibility for the message (persisted into at least one
// queue); ErrUnroutable when no queue is bound for the kind. It fails fast
// with ErrNotConnected while Run has no connection, so a caller with an
// outbox can move on instead of stalling.
func (p *Publisher) Publish(ctx context.Context, m Message) error {
	c, err := p.PublishAsync(ctx, m)
	if err != nil {
		return err
	}
	return c.Wait(ctx)
}

// PublishAsync sends m like Publish but returns once the message is
// written to the channel, before the broker's answer, which the returned
// Confirm carries. Messages sent one after another keep their order in
// the queue, and the caller can answer its own client meanwhile (the
// gateway does, its job being safe in the outbox already).
func (p *Publisher) PublishAsync(ctx context.Context, m Message) (*Confirm, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("broker: publish job %s: %w", m.JobID, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	pub, err := m.publishing(p.appID, time.Now())
	if err != nil {
		return nil, err
	}
	return p.start(ctx, p.topo.Exchange(), m.Kind, pub, "job "+m.JobID+" (kind "+m.Kind+")")
}

// Confirm is the broker's pending answer to one publish.
type Confirm struct {
	res  <-chan error
	what string
}

// Wait returns nil once the broker confirmed the message, or why not.
// Leaving early on ctx leaks nothing: the confirm loop still answers and
// frees the window slot.
func (c *Confirm) Wait(ctx context.Context) error {
	select {
	case err := <-c.res:
		if err != nil {
			return fmt.Errorf("broker: publish %s: %w", c.what, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("broker: publish %s: wait for confirm: %w", c.what, ctx.Err())
	}
}

// send publishes pub to exchange with key through the confirm window and
// waits for the broker's answer; what names the message in errors.
func (p *Publisher) send(ctx context.Context, exchange, key string, pub amqp.Publishing, what string) error {
	c, err := p.start(ctx, exchange, key, pub, what)
	if err != nil {
		return err
	}
	return c.Wait(ctx)
}

// start takes a slot of the confirm window and writes pub to the channel.
func (p *Publisher) start(ctx context.Context, exchange, key string, pub amqp.Publishing, what string) (*Confirm, error) {
	if p.session() == nil {
		return nil, fmt.Errorf("broker: publish %s: %w", what, ErrNotConnected)
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("broker: publish %s: wait for window: %w", what, ctx.Err())
	}
	release := func() { <-p.slots }
	// The session may have changed while we waited for a slot.
	sess := p.session()
	if sess == nil {
		release()
		return nil, fmt.Errorf("broker: publish %s: %w", what, ErrNotConnected)
	}
	res, err := sess.publish(ctx, exchange, key, pub, release)
	if err != nil {
		return nil, fmt.Errorf("broker: publish %s: %w", what, err)
	}
	return &Confirm{res: res, what: what}, nil
}
