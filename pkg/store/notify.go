package store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	hlog "github.com/hopperq/hopper/pkg/log"
)

// Timing of the notifier's connection.
const (
	// Reconnect delays: a Postgres restart costs a moment; a long outage
	// does not become a connection storm from every gateway.
	notifyMinBackoff = 100 * time.Millisecond
	notifyMaxBackoff = 5 * time.Second
	// notifyHealthEvery is how long the connection may stay silent before
	// the notifier pings it, so a dead peer that never closed the socket is
	// noticed within seconds rather than at the TCP keepalive.
	notifyHealthEvery = 10 * time.Second
	notifyPingTimeout = 5 * time.Second
	// notifyChannelPrefix starts every channel name; see JobsChannel.
	notifyChannelPrefix = "hopper_jobs_"
	// maxChannelSchemaLen keeps prefix+schema within Postgres's 63-byte
	// identifier limit (NAMEDATALEN-1); a longer schema is hashed.
	maxChannelSchemaLen = 63 - len(notifyChannelPrefix)
)

// JobsChannel is the LISTEN/NOTIFY channel of the jobs table in schema,
// the same name migration 00002's trigger computes from TG_TABLE_SCHEMA:
// one channel per schema, so environments and tests sharing a database
// hear only their own jobs.
func JobsChannel(schema string) string {
	if len(schema) <= maxChannelSchemaLen {
		return notifyChannelPrefix + schema
	}
	sum := md5.Sum([]byte(schema))
	return notifyChannelPrefix + hex.EncodeToString(sum[:])
}

// JobNotifier turns Postgres notifications about changed jobs into
// in-process wake-ups. It holds one dedicated connection (not from the
// Store's pool: a pooled connection would drop its LISTEN when returned)
// that LISTENs on the schema's jobs channel. The jobs trigger notifies
// with the job id only, on a change of state, progress, status message or
// cancel request; subscribers then read the row themselves.
//
// A wake-up means "look again", never "this changed": after a reconnect
// and when the connection is lost every subscriber is woken, so nothing
// that happened in between goes unnoticed. Run one per process.
type JobNotifier struct {
	dsn string
	log *zap.Logger

	mu   sync.Mutex
	subs map[uuid.UUID]map[chan struct{}]struct{}

	listening atomic.Bool
	// pid is the backend process id of the live connection, 0 when none
	// (tests terminate it to simulate a lost connection).
	pid atomic.Uint32
}

// NewJobNotifier returns a notifier for the database at dsn (the Store's
// DSN; its search_path selects the schema). It connects in Run.
func NewJobNotifier(dsn string, log *zap.Logger) *JobNotifier {
	if log == nil {
		log = zap.NewNop()
	}
	return &JobNotifier{
		dsn:  dsn,
		log:  log.Named("notifier"),
		subs: make(map[uuid.UUID]map[chan struct{}]struct{}),
	}
}

// Subscribe returns a channel that receives a value when job jobID may
// have changed, and a function that ends the subscription (safe to call
// more than once). The channel holds one pending wake-up: changes while
// the subscriber is busy coalesce into it. jobID uuid.Nil subscribes to
// every job's changes.
func (n *JobNotifier) Subscribe(jobID uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	set := n.subs[jobID]
	if set == nil {
		set = make(map[chan struct{}]struct{})
		n.subs[jobID] = set
	}
	set[ch] = struct{}{}
	n.mu.Unlock()

	var once sync.Once
	return ch, func() {
		once.Do(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			delete(n.subs[jobID], ch)
			if len(n.subs[jobID]) == 0 {
				delete(n.subs, jobID)
			}
		})
	}
}

// Listening reports whether notifications are flowing now. While it is
// false, subscribers must poll to stay current.
func (n *JobNotifier) Listening() bool { return n.listening.Load() }

// Run listens until ctx ends, reconnecting with capped backoff whenever
// the connection fails. It returns nil when ctx ends: a database outage is
// not a reason to stop the process, only to poll meanwhile.
func (n *JobNotifier) Run(ctx context.Context) error {
	next := time.Duration(0)
	for ctx.Err() == nil {
		connected, err := n.listen(ctx)
		n.pid.Store(0)
		if n.listening.Swap(false) {
			// Subscribers switch to polling until the next connection.
			n.wakeAll()
		}
		if ctx.Err() != nil {
			break
		}
		if connected {
			next = 0
		}
		next = min(max(2*next, notifyMinBackoff), notifyMaxBackoff)
		delay := next + rand.N(next/5+1)
		n.log.Warn("job notifications interrupted; reconnecting", zap.Duration("in", delay), zap.Error(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// listen runs one connection: connect, LISTEN, then deliver notifications
// until the connection fails or ctx ends. connected reports whether LISTEN
// succeeded, which resets the backoff.
func (n *JobNotifier) listen(ctx context.Context) (connected bool, err error) {
	conn, err := pgx.Connect(ctx, n.dsn)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()

	var schema *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return false, fmt.Errorf("read current schema: %w", err)
	}
	if schema == nil {
		return false, errors.New("no schema in search_path exists")
	}
	channel := JobsChannel(*schema)
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen on %s: %w", channel, err)
	}
	n.pid.Store(conn.PgConn().PID())
	n.listening.Store(true)
	n.log.Info("listening for job changes", zap.String("channel", channel), zap.Uint32("backend_pid", conn.PgConn().PID()))
	// Whatever changed while no connection listened: subscribers look again.
	n.wakeAll()

	for {
		waitCtx, cancel := context.WithTimeout(ctx, notifyHealthEvery)
		note, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			n.deliver(note.Payload)
		case ctx.Err() != nil:
			return true, nil
		case pgconn.Timeout(err):
			// Silence: check the connection is still there. A timed-out
			// wait leaves it usable.
			pingCtx, cancel := context.WithTimeout(ctx, notifyPingTimeout)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("wait for notification: %w", err)
		}
	}
}

// deliver wakes the subscribers of the job a notification names.
func (n *JobNotifier) deliver(payload string) {
	id, err := uuid.Parse(payload)
	if err != nil {
		n.log.Debug("ignoring notification that names no job", zap.String("payload", payload))
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	set := n.subs[id]
	if len(set) > 0 {
		n.log.Debug("job changed", hlog.JobID(payload), zap.Int("subscribers", len(set)))
	}
	for ch := range set {
		wake(ch)
	}
	for ch := range n.subs[uuid.Nil] {
		wake(ch)
	}
}

// wakeAll wakes every subscriber.
func (n *JobNotifier) wakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, set := range n.subs {
		for ch := range set {
			wake(ch)
		}
	}
}

// wake leaves one pending wake-up in ch unless one is already there.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
