package jobstore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// outputNotesBuffered is how many notes one subscriber may have pending;
// a subscriber that falls further behind misses notes and finds the gap
// by their sequence numbers (and reads the chunks).
const outputNotesBuffered = 256

// OutputListener delivers the output notifications of AppendOutput to
// in-process subscribers of each job. It LISTENs on one dedicated
// connection per process: every append notifies at commit, carrying its
// chunks when they fit, so a live subscriber gets them without a read.
// (Output takes a notification, unlike job changes, which are polled: an
// append is a batch of ~25 ms of chunks of one streaming job, not every
// job write, and a poll's 50 ms would be the whole latency budget.)
//
// A note may be lost (a full subscriber buffer, a reconnect); subscribers
// compare sequence numbers and read what they missed, and after a
// reconnect every subscriber gets a Resync note.
type OutputListener struct {
	dsn string
	log *zap.Logger

	subs *subscribers[OutputNote]

	listening atomic.Bool
}

// NewOutputListener returns a listener for the database at dsn (its
// search_path selects the schema). It connects in Run.
func NewOutputListener(dsn string, log *zap.Logger) *OutputListener {
	if log == nil {
		log = zap.NewNop()
	}
	return &OutputListener{dsn: dsn, log: log.Named("output"), subs: newSubscribers[OutputNote](outputNotesBuffered)}
}

// Subscribe returns the notes of job jobID's appends from now on, and the
// function that ends the subscription (safe to call twice).
func (l *OutputListener) Subscribe(jobID uuid.UUID) (<-chan OutputNote, func()) {
	return l.subs.subscribe(jobID)
}

// Listening reports whether notifications flow now; while they do not,
// subscribers must poll.
func (l *OutputListener) Listening() bool { return l.listening.Load() }

// Run listens until ctx ends, reconnecting with capped backoff.
func (l *OutputListener) Run(ctx context.Context) error {
	pg.RunReconnecting(ctx, l.log, "output notifications", l.listen, func() {
		if l.listening.Swap(false) {
			l.resyncAll()
		}
	})
	return nil
}

func (l *OutputListener) listen(ctx context.Context) (connected bool, err error) {
	conn, closeConn, err := pg.Dial(ctx, l.dsn)
	if err != nil {
		return false, err
	}
	defer closeConn()
	var channel string
	if err := conn.QueryRow(ctx, `SELECT `+outputChannelSQL).Scan(&channel); err != nil {
		return false, fmt.Errorf("output channel: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	l.listening.Store(true)
	// Whatever was appended while nobody listened: subscribers read it.
	l.resyncAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("wait for output: %w", err)
		}
		note, err := decodeOutputNote(n.Payload)
		if err != nil {
			l.log.Warn("output notification ignored", zap.Error(err))
			continue
		}
		l.deliver(note)
	}
}

// deliver hands note to its job's subscribers; one that is behind (its
// channel full) sees the gap at its next note and reads.
func (l *OutputListener) deliver(note OutputNote) { l.subs.send(note.Job, note) }

func (l *OutputListener) resyncAll() { l.subs.sendAll(OutputNote{Resync: true}) }
