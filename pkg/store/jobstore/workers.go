package jobstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Worker is one worker instance's registry row: who it is, what it
// consumes and how busy it is, as of LastSeenAt.
type Worker struct {
	ID           string
	Service      string
	Host         string
	PID          int `gorm:"column:pid"`
	Queues       []string
	Concurrency  int
	InFlight     int
	StartedAt    time.Time
	LastSeenAt   time.Time
	PausedQueues []string
	// Kinds are the kinds the instance runs (the catalogue counts live
	// workers per kind from them).
	Kinds []string
}

// workerRow is Worker as gorm scans it: the arrays need textArray.
type workerRow struct {
	ID           string
	Service      string
	Host         string
	PID          int `gorm:"column:pid"`
	Queues       textArray
	Concurrency  int
	InFlight     int
	StartedAt    time.Time
	LastSeenAt   time.Time
	PausedQueues textArray
	Kinds        textArray
}

// upsertWorkerSQL writes a registry row; %s is the kinds' expression.
const upsertWorkerSQL = `INSERT INTO workers
	(id, service, host, pid, queues, concurrency, in_flight, started_at, last_seen_at, paused_queues, kinds)
	VALUES (?, ?, ?, ?, ?::text[], ?, ?, ?, now(), ?::text[], %s)
	ON CONFLICT (id) DO UPDATE SET service = EXCLUDED.service, host = EXCLUDED.host,
		pid = EXCLUDED.pid, queues = EXCLUDED.queues, concurrency = EXCLUDED.concurrency,
		in_flight = EXCLUDED.in_flight, started_at = EXCLUDED.started_at,
		last_seen_at = now(), paused_queues = EXCLUDED.paused_queues, kinds = EXCLUDED.kinds`

// UpsertWorker records that worker w is alive now (last_seen_at is the
// database's clock, so instances on skewed hosts compare fairly).
func (s *Store) UpsertWorker(ctx context.Context, w Worker) error {
	return s.upsertWorker(ctx, w, "?::text[]", textArray(w.Kinds))
}

// UpsertServiceWorker is UpsertWorker for an instance that runs the
// catalogue's kinds of its service on its queues (a pull worker runs the
// kinds its token registered): its kinds are those, read in the same
// statement, and w.Kinds (registered a moment ago).
func (s *Store) UpsertServiceWorker(ctx context.Context, w Worker) error {
	return s.upsertWorker(ctx, w, `ARRAY(SELECT k FROM (SELECT name FROM kinds WHERE service = ? AND queue = ANY(?::text[])
		UNION SELECT unnest(?::text[])) AS u(k) ORDER BY k)`, w.Service, textArray(w.Queues), textArray(w.Kinds))
}

func (s *Store) upsertWorker(ctx context.Context, w Worker, kindsSQL string, kindsArgs ...any) error {
	if w.ID == "" {
		return errors.New("upsert worker: empty id")
	}
	args := append([]any{w.ID, w.Service, w.Host, w.PID, textArray(w.Queues), w.Concurrency, w.InFlight,
		w.StartedAt, textArray(w.PausedQueues)}, kindsArgs...)
	if err := s.db.WithContext(ctx).Exec(fmt.Sprintf(upsertWorkerSQL, kindsSQL), args...).Error; err != nil {
		return fmt.Errorf("upsert worker %s: %w", w.ID, err)
	}
	return nil
}

// TouchWorkers records that the instances ids are alive now, leaving the
// rest of their rows as they are (a pull worker waiting in a long poll).
func (s *Store) TouchWorkers(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(`UPDATE workers SET last_seen_at = now() WHERE id = ANY(?::text[])`, textArray(ids)).Error
	if err != nil {
		return fmt.Errorf("touch workers: %w", err)
	}
	return nil
}

// DeleteWorker removes worker id's row (clean shutdown). A missing row is
// not an error.
func (s *Store) DeleteWorker(ctx context.Context, id string) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM workers WHERE id = ?`, id).Error; err != nil {
		return fmt.Errorf("delete worker %s: %w", id, err)
	}
	return nil
}

// ListWorkers returns the instances seen within the last seenWithin,
// newest first (by start time, then id).
func (s *Store) ListWorkers(ctx context.Context, seenWithin time.Duration) ([]Worker, error) {
	var rows []workerRow
	err := s.db.WithContext(ctx).Raw(`SELECT id, service, host, pid, queues, concurrency, in_flight,
		started_at, last_seen_at, paused_queues, kinds FROM workers
		WHERE last_seen_at > now() - make_interval(secs => ?::float8)
		ORDER BY started_at DESC, id DESC`, seenWithin.Seconds()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list workers: %w", err)
	}
	out := make([]Worker, len(rows))
	for i, r := range rows {
		out[i] = Worker{ID: r.ID, Service: r.Service, Host: r.Host, PID: r.PID,
			Queues: nonNil(r.Queues), Concurrency: r.Concurrency, InFlight: r.InFlight,
			StartedAt: r.StartedAt, LastSeenAt: r.LastSeenAt, PausedQueues: nonNil(r.PausedQueues),
			Kinds: nonNil(r.Kinds)}
	}
	return out, nil
}

// PauseQueue records that every worker instance must stop consuming queue
// (a short name). Pausing a paused queue is a no-op.
func (s *Store) PauseQueue(ctx context.Context, queue, by string) error {
	err := s.db.WithContext(ctx).Exec(
		`INSERT INTO queue_pauses (queue, paused_by) VALUES (?, ?) ON CONFLICT (queue) DO NOTHING`,
		queue, by).Error
	if err != nil {
		return fmt.Errorf("pause queue %s: %w", queue, err)
	}
	return nil
}

// ResumeQueue lifts queue's pause. Resuming a running queue is a no-op.
func (s *Store) ResumeQueue(ctx context.Context, queue string) error {
	if err := s.db.WithContext(ctx).Exec(`DELETE FROM queue_pauses WHERE queue = ?`, queue).Error; err != nil {
		return fmt.Errorf("resume queue %s: %w", queue, err)
	}
	return nil
}

// PausedQueues lists the paused queues' short names, sorted.
func (s *Store) PausedQueues(ctx context.Context) ([]string, error) {
	out := []string{}
	if err := s.db.WithContext(ctx).Raw(`SELECT queue FROM queue_pauses ORDER BY queue`).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("read paused queues: %w", err)
	}
	return out, nil
}

func nonNil(a []string) []string {
	if a == nil {
		return []string{}
	}
	return a
}

// textArray passes and reads a Postgres text[] whole. As a driver.Valuer
// gorm binds it as one parameter instead of expanding it into a list; pgx
// does the array quoting both ways.
type textArray []string

// Value encodes a as a text[] literal.
func (a textArray) Value() (driver.Value, error) {
	buf, err := pgtype.NewMap().Encode(pgtype.TextArrayOID, pgtype.TextFormatCode, []string(nonNil(a)), nil)
	if err != nil {
		return nil, fmt.Errorf("encode text[]: %w", err)
	}
	return string(buf), nil
}

// Scan decodes a text[] column.
func (a *textArray) Scan(src any) error {
	var out []string
	if err := pgtype.NewMap().SQLScanner(&out).Scan(src); err != nil {
		return fmt.Errorf("decode text[]: %w", err)
	}
	*a = out
	return nil
}
