package jobstore

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Timing of the notifier.
const (
	// notifyPollEvery is how often the notifier looks for changes: live
	// events arrive at most this late (the API promises 1 s).
	notifyPollEvery    = 50 * time.Millisecond
	notifyQueryTimeout = 5 * time.Second
)

// JobNotifier turns changes of jobs into in-process wake-ups. It polls on
// one dedicated connection: every notifyPollEvery it reads the watched
// jobs' state, attempt, progress, status message and cancel request in one
// statement and wakes the subscribers of those that differ from the last
// look; subscribers of every job (uuid.Nil) wake when the timeline grew.
//
// It polls rather than LISTENs: a NOTIFY per job change made every
// writing transaction take Postgres's global notification lock at commit,
// which cost 39 % of end-to-end throughput (W1 593 → 362 jobs/s,
// docs/PERFORMANCE.md). A poll costs one indexed query per gateway per
// tick, whatever the write rate.
//
// A wake-up means "look again", never "this changed": after a reconnect
// and when the connection is lost every subscriber is woken, so nothing
// that happened in between goes unnoticed. Run one per process.
type JobNotifier struct {
	dsn string
	log *zap.Logger

	subs *subscribers[struct{}]

	listening atomic.Bool
	// pid is the backend process id of the live connection, 0 when none
	// (tests terminate it to simulate a lost connection).
	pid atomic.Uint32

	// Poll state, owned by Run's goroutine.
	seen      map[uuid.UUID]jobLook
	lastEvent int64
}

// jobLook is what a subscriber of one job is woken for.
type jobLook struct {
	State           string
	Attempt         int
	Progress        int
	StatusMessage   string
	CancelRequested bool
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
		subs: newSubscribers[struct{}](1),
		seen: make(map[uuid.UUID]jobLook),
	}
}

// Subscribe returns a channel that receives a value when job jobID may
// have changed, and a function that ends the subscription (safe to call
// more than once). The channel holds one pending wake-up: changes while
// the subscriber is busy coalesce into it. jobID uuid.Nil subscribes to
// every job's changes.
func (n *JobNotifier) Subscribe(jobID uuid.UUID) (<-chan struct{}, func()) {
	return n.subs.subscribe(jobID)
}

// Listening reports whether change detection is running now. While it is
// false, subscribers must poll to stay current.
func (n *JobNotifier) Listening() bool { return n.listening.Load() }

// Run watches until ctx ends, reconnecting with capped backoff whenever
// the connection fails. It returns nil when ctx ends: a database outage is
// not a reason to stop the process, only to poll meanwhile.
func (n *JobNotifier) Run(ctx context.Context) error {
	pg.RunReconnecting(ctx, n.log, "job change detection", n.watch, func() {
		n.pid.Store(0)
		if n.listening.Swap(false) {
			// Subscribers switch to polling until the next connection.
			n.wakeAll()
		}
	})
	return nil
}

// watch runs one connection: connect, then look for changes every
// notifyPollEvery until a query fails or ctx ends. connected reports
// whether the first look succeeded, which resets the backoff.
func (n *JobNotifier) watch(ctx context.Context) (connected bool, err error) {
	conn, closeConn, err := pg.Dial(ctx, n.dsn)
	if err != nil {
		return false, err
	}
	defer closeConn()
	// Start from now: what changed before is what subscribers read first.
	clear(n.seen)
	n.lastEvent = -1
	if err := n.look(ctx, conn); err != nil {
		return false, err
	}
	n.pid.Store(conn.PgConn().PID())
	n.listening.Store(true)
	n.log.Info("watching job changes", zap.Uint32("backend_pid", conn.PgConn().PID()))
	// Whatever changed while no connection watched: subscribers look again.
	n.wakeAll()

	t := time.NewTicker(notifyPollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true, nil
		case <-t.C:
		}
		if err := n.look(ctx, conn); err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, err
		}
	}
}

// look reads what subscribers watch and wakes those whose view changed.
func (n *JobNotifier) look(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, notifyQueryTimeout)
	defer cancel()
	ids := n.subs.ids()
	watchAll := slices.Contains(ids, uuid.Nil)
	ids = slices.DeleteFunc(ids, func(id uuid.UUID) bool { return id == uuid.Nil })

	// One statement, one snapshot: a change seen here for one job means
	// every change committed before it is seen too.
	// With no job watched, it reads the timeline's end only: the planner
	// may answer "id = ANY('{}')" with a scan of the whole table.
	q := `SELECT id, state, attempt, progress, status_message, cancel_requested,
	       (SELECT coalesce(max(id), 0) FROM job_events) AS last_event
	FROM (SELECT 1) one LEFT JOIN jobs ON jobs.id = ANY($1)`
	args := []any{ids}
	if len(ids) == 0 {
		q = `SELECT NULL::uuid, NULL::text, NULL::int, NULL::int, NULL::text, NULL::bool,
		       (SELECT coalesce(max(id), 0) FROM job_events)`
		args = nil
	}
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("look for job changes: %w", err)
	}
	var changed []uuid.UUID
	var lastEvent int64
	present := make(map[uuid.UUID]bool, len(ids))
	for rows.Next() {
		var (
			id   *uuid.UUID
			look jobLook
			st   *string
			att  *int
			pct  *int
			msg  *string
			canc *bool
		)
		if err := rows.Scan(&id, &st, &att, &pct, &msg, &canc, &lastEvent); err != nil {
			rows.Close()
			return fmt.Errorf("look for job changes: %w", err)
		}
		if id == nil {
			continue
		}
		look = jobLook{State: *st, Attempt: *att, Progress: *pct, StatusMessage: *msg, CancelRequested: *canc}
		present[*id] = true
		// A job seen for the first time wakes its subscribers too: it may
		// have changed between their own read and this look.
		if prev, ok := n.seen[*id]; !ok || prev != look {
			changed = append(changed, *id)
			n.seen[*id] = look
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look for job changes: %w", err)
	}
	for id := range n.seen {
		if !present[id] {
			delete(n.seen, id) // unsubscribed (or deleted)
		}
	}
	grew := n.lastEvent >= 0 && lastEvent != n.lastEvent
	n.lastEvent = lastEvent

	for _, id := range changed {
		if woken := n.subs.send(id, struct{}{}); woken > 0 {
			n.log.Debug("job changed", hlog.JobID(id.String()), zap.Int("subscribers", woken))
		}
	}
	if watchAll && (grew || len(changed) > 0) {
		n.subs.send(uuid.Nil, struct{}{})
	}
	return nil
}

// wakeAll wakes every subscriber.
func (n *JobNotifier) wakeAll() { n.subs.sendAll(struct{}{}) }
