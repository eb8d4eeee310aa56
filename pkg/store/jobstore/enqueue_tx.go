package jobstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Transactional enqueue: a Go service sharing Hopper's Postgres inserts
// jobs in its own transaction (hopper.EnqueueTx), so a job exists exactly
// when the caller's other writes do. The rows go through the insert
// statements every other path uses (created event, fairness trigger,
// UUIDv7 ids). No publisher waits on them, so the transaction also sends
// a NOTIFY naming the due jobs; Postgres delivers it only at commit, and
// the dispatcher leader (ListenEnqueued) publishes those jobs at once.
// The notification is the mark: the outbox's age rule, which keeps it
// from racing the gateway's in-flight publishes, does not delay them,
// and the gateway's submits are never named, so none is published twice.
// A notification lost (no leader listening, a crash before the publish)
// leaves an ordinary outbox entry, published after the outbox age.

// enqueuedChannelSQL is the notification channel of the schema a
// connection works in: both sides compute it in SQL so the caller's
// search_path and the dispatcher's agree. A channel name is at most 63
// bytes; two schemas whose names share the first 47 share a channel, and
// a leader named another schema's ids finds none of them.
const enqueuedChannelSQL = `left('hopper_enqueued:' || current_schema(), 63)`

// notifyIDsPerMessage keeps a notification's payload (ids of 36 bytes
// and commas) under Postgres's 8,000-byte limit.
const notifyIDsPerMessage = 200

const notifyEnqueuedSQL = `SELECT pg_notify(` + enqueuedChannelSQL + `, p) FROM unnest($1::text[]) AS p`

// EnqueueTx stores batch with q, the caller's transaction, through
// Enqueue, and has the dispatcher publish the due jobs it created when q
// commits; nothing is published or visible if it rolls back. It applies
// no plan quota (JobsPerHour must be 0): the caller is trusted as the
// database trusts it. The fairness cap does apply; for a capped owner the
// admission lock is then held until q ends. With q a pool rather than a
// transaction each statement commits on its own, which still holds: the
// jobs commit before the notification names them.
func EnqueueTx(ctx context.Context, q pg.Querier, batch []NewJob, now time.Time) ([]Enqueued, error) {
	for _, nj := range batch {
		if nj.JobsPerHour != 0 {
			return nil, errors.New("enqueue: a transactional enqueue applies no jobs-per-hour quota")
		}
	}
	res, err := Enqueue(ctx, q, batch, now)
	if err != nil {
		return nil, err
	}
	created := make([]Job, 0, len(res))
	for _, r := range res {
		if r.Created { // a replayed key's job was announced by its own enqueue
			created = append(created, r.Job)
		}
	}
	if err := notifyEnqueued(ctx, q, created); err != nil {
		return nil, fmt.Errorf("enqueue: %w", err)
	}
	return res, nil
}

// notifyEnqueued names the jobs of list the dispatcher should publish
// when the transaction commits: queued and admitted ones. Scheduled jobs
// are published when due, held ones when the fairness cap admits them;
// neither needs a notification, and a transaction with nothing to name
// sends none.
func notifyEnqueued(ctx context.Context, q pg.Querier, list []Job) error {
	var (
		payloads []string
		b        strings.Builder
		n        int
	)
	for _, j := range list {
		if j.State != jobs.StateQueued || j.Held {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(j.ID.String())
		if n++; n == notifyIDsPerMessage {
			payloads, n = append(payloads, b.String()), 0
			b.Reset()
		}
	}
	if n > 0 {
		payloads = append(payloads, b.String())
	}
	if len(payloads) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, notifyEnqueuedSQL, payloads); err != nil {
		return fmt.Errorf("notify the dispatcher: %w", err)
	}
	return nil
}

// EnqueuedListener receives the ids of jobs EnqueueTx stored, as their transactions commit. It holds one
// dedicated connection; close it when done.
type EnqueuedListener struct {
	conn *pgx.Conn
}

// ListenEnqueued connects and listens for the notifications of
// EnqueueTx in the Store's schema. Notifications sent while no
// listener is connected are lost; their jobs wait for the outbox.
func (s *Store) ListenEnqueued(ctx context.Context) (*EnqueuedListener, error) {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return nil, fmt.Errorf("listen for enqueued jobs: connect: %w", err)
	}
	var channel string
	err = conn.QueryRow(ctx, `SELECT `+enqueuedChannelSQL).Scan(&channel)
	if err == nil {
		_, err = conn.Exec(ctx, `LISTEN `+pgx.Identifier{channel}.Sanitize())
	}
	if err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen for enqueued jobs: %w", err)
	}
	return &EnqueuedListener{conn: conn}, nil
}

// Next waits for the next notification and returns the job ids it names.
// An error means the connection is lost (or ctx ended): close the
// listener and open another.
func (l *EnqueuedListener) Next(ctx context.Context) ([]uuid.UUID, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait for enqueued jobs: %w", err)
	}
	ids := make([]uuid.UUID, 0, strings.Count(n.Payload, ",")+1)
	for _, s := range strings.Split(n.Payload, ",") {
		// Anything else on the channel (a hand-sent NOTIFY) is not ours.
		if id, err := uuid.Parse(s); err == nil {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Close ends the listener's connection.
func (l *EnqueuedListener) Close(ctx context.Context) error {
	return l.conn.Close(ctx)
}

// UnpublishedOf returns those of jobs ids that are queued, admitted and
// not marked published, oldest first: what the dispatcher publishes when
// a notification names them. A job already claimed, cancelled or
// published is left out.
func (s *Store) UnpublishedOf(ctx context.Context, ids []uuid.UUID) ([]Job, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := queryJobs(ctx, s.sql, `SELECT `+jobColumns+` FROM jobs
		WHERE id = ANY($1::uuid[]) AND state = 'queued' AND published_at IS NULL AND NOT held
		ORDER BY id`, uuidArray(ids))
	if err != nil {
		return nil, fmt.Errorf("read %d enqueued jobs: %w", len(ids), err)
	}
	return list, nil
}
