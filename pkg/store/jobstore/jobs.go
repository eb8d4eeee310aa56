package jobstore

import (
	"context"
	"database/sql/driver"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// List page sizes.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// GetJob returns job id. With ownerID set, another owner's job is
// pg.ErrNotFound, as if it did not exist; nil means any owner (admins).
func (s *Store) GetJob(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (Job, error) {
	return s.getJob(ctx, s.db, ownerID, id)
}

func (s *Store) getJob(ctx context.Context, db *gorm.DB, ownerID *uuid.UUID, id uuid.UUID) (Job, error) {
	q := db.WithContext(ctx).Where("id = ?", id)
	if ownerID != nil {
		q = q.Where("owner_id = ?", *ownerID)
	}
	var j Job
	res := q.Limit(1).Find(&j)
	if res.Error != nil {
		return Job{}, fmt.Errorf("get job %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return Job{}, fmt.Errorf("get job %s: %w", id, pg.ErrNotFound)
	}
	return j, nil
}

// Events returns job jobID's timeline, oldest first.
func (s *Store) Events(ctx context.Context, jobID uuid.UUID) ([]Event, error) {
	var evs []Event
	if err := s.db.WithContext(ctx).Where("job_id = ?", jobID).Order("id").Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("events of job %s: %w", jobID, err)
	}
	return evs, nil
}

// ListFilter selects jobs for ListJobs. Zero fields do not filter.
type ListFilter struct {
	OwnerID *uuid.UUID
	States  []jobs.State
	Kind    string
	Limit   int    // 0 means DefaultListLimit; capped at MaxListLimit
	Cursor  string // from a previous page's next cursor
}

// ListJobs returns a page of jobs, newest first, and the cursor of the
// next page ("" on the last page). Keyset pagination on (created_at, id)
// keeps pages stable while jobs are added.
func (s *Store) ListJobs(ctx context.Context, f ListFilter) ([]Job, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)

	q := s.db.WithContext(ctx).Model(&Job{})
	if f.OwnerID != nil {
		q = q.Where("owner_id = ?", *f.OwnerID)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		q = q.Where("state IN ?", states)
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list jobs: %w", err)
		}
		q = q.Where("(created_at, id) < (?, ?)", c.createdAt, c.id)
	}
	// One row more than asked says whether another page exists.
	var rows []Job
	if err := q.Order("created_at DESC, id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	if len(rows) <= limit {
		return rows, "", nil
	}
	rows = rows[:limit]
	last := rows[limit-1]
	return rows, encodeCursor(cursor{createdAt: last.CreatedAt, id: last.ID}), nil
}

// cursor is the position after the last row of a page.
type cursor struct {
	createdAt time.Time
	id        uuid.UUID
}

// cursorLen is a cursor's binary size: created_at in Unix microseconds
// (Postgres's precision) and the id.
const cursorLen = 8 + 16

func encodeCursor(c cursor) string {
	buf := make([]byte, cursorLen)
	binary.BigEndian.PutUint64(buf, uint64(c.createdAt.UnixMicro()))
	copy(buf[8:], c.id[:])
	return base64.RawURLEncoding.EncodeToString(buf)
}

func decodeCursor(s string) (cursor, error) {
	buf, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(buf) != cursorLen {
		return cursor{}, ErrBadCursor
	}
	var c cursor
	c.createdAt = time.UnixMicro(int64(binary.BigEndian.Uint64(buf)))
	copy(c.id[:], buf[8:])
	return c, nil
}

// uuidArray passes ids as one Postgres uuid[] parameter. As a
// driver.Valuer gorm binds it whole instead of expanding it into a list,
// so `= ANY(?)` keeps one statement shape for any number of ids.
type uuidArray []uuid.UUID

func (a uuidArray) Value() (driver.Value, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id.String())
	}
	b.WriteByte('}')
	return b.String(), nil
}

// markSkipLocked wraps a published mark's condition: the rows are locked
// first and rows another transaction holds are skipped. A mark is a
// multi-row UPDATE racing the claims of the same jobs, which workers
// batch into multi-row UPDATEs too: locking in different orders, the two
// deadlocked, and Postgres broke the tie only after deadlock_timeout (1 s),
// a second in which the batch's jobs neither ran nor were marked (seen as
// a 1 s stall in the fairness test). A locked row is being claimed,
// cancelled or marked: a claimed job needs no mark, and one whose locker
// rolls back stays an outbox entry, published again after OutboxAge (a
// duplicate the conditional claim drops).
func markSkipLocked(cond string) string {
	return `UPDATE jobs SET published_at = now() WHERE id IN (
		SELECT id FROM jobs WHERE ` + cond + ` FOR UPDATE SKIP LOCKED)`
}

// MarkPublished records that queued jobs ids were published to RabbitMQ
// (the publish was confirmed), taking them out of the outbox sweep. It
// never waits for a row another transaction holds (markSkipLocked).
func (s *Store) MarkPublished(ctx context.Context, ids ...uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(
		markSkipLocked(`id = ANY(?::uuid[]) AND state = 'queued'`),
		uuidArray(ids),
	).Error
	if err != nil {
		return fmt.Errorf("mark %d jobs published: %w", len(ids), err)
	}
	return nil
}

// MarkPublishedUnclaimed marks jobs published only while no worker ever
// claimed them. A late mark must not hide a job that was claimed and then
// released (or retried) after this publish: such a job keeps
// published_at NULL and the outbox publishes it again. It never waits for
// a row another transaction holds (markSkipLocked).
func (s *Store) MarkPublishedUnclaimed(ctx context.Context, ids ...uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(
		markSkipLocked(`id = ANY(?::uuid[]) AND state = 'queued' AND started_at IS NULL AND published_at IS NULL`),
		uuidArray(ids),
	).Error
	if err != nil {
		return fmt.Errorf("mark %d jobs published: %w", len(ids), err)
	}
	return nil
}

// leaseSQL is the new lease expiry; its placeholder takes seconds.
const leaseSQL = `now() + make_interval(secs => ?::float8)`

// attemptSQL matches a worker's attempt of a job; placeholders: id,
// attempt, worker id. With the job running, the worker holds it (DESIGN
// invariant 4): ownsSQL, and a finish's move from running.
const attemptSQL = `id = ? AND attempt = ? AND worker_id = ?`

// ownsSQL matches the running attempt a worker holds.
const ownsSQL = attemptSQL + ` AND state = 'running'`

// Claim moves a queued job to running for workerID, starting its next
// attempt under a lease, and returns it with its payload. A job that is
// not queued (done, cancelled, claimed by another worker) or held by the
// fairness cap (a delivery left from before it was held) is
// ErrNotClaimed: the delivery is stale.
func (s *Store) Claim(ctx context.Context, jobID uuid.UUID, workerID string, lease time.Duration) (Job, error) {
	return s.grouped.claims.Do(ctx, claimReq{id: jobID, workerID: workerID, lease: lease})
}

// ClaimUrgent is Claim for a high-priority delivery: it does not wait
// behind a batch of claims being written, but is written at once in a
// statement of its own beside it (groupcommit.DoUrgent).
func (s *Store) ClaimUrgent(ctx context.Context, jobID uuid.UUID, workerID string, lease time.Duration) (Job, error) {
	return s.grouped.claims.DoUrgent(ctx, claimReq{id: jobID, workerID: workerID, lease: lease})
}

// Heartbeat extends a running attempt's lease and reports whether a cancel
// was requested. A worker that no longer owns the attempt gets
// ErrLeaseLost and must stop.
func (s *Store) Heartbeat(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, lease time.Duration) (cancelRequested bool, err error) {
	cancelRequested, err = s.touchLease(ctx,
		`lease_expires_at = `+leaseSQL,
		[]any{lease.Seconds(), jobID, attempt, workerID})
	if err != nil {
		return false, fmt.Errorf("heartbeat job %s attempt %d: %w", jobID, attempt, err)
	}
	return cancelRequested, nil
}

// Progress records a running attempt's progress (clamped to 0–100) and
// status message, and extends its lease like Heartbeat. It appends no
// event: progress is not a transition and would flood the timeline.
func (s *Store) Progress(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, pct int, msg string, lease time.Duration) (cancelRequested bool, err error) {
	pct = max(0, min(pct, 100))
	cancelRequested, err = s.touchLease(ctx,
		`progress = ?, status_message = ?, updated_at = now(), lease_expires_at = `+leaseSQL,
		[]any{pct, msg, lease.Seconds(), jobID, attempt, workerID})
	if err != nil {
		return false, fmt.Errorf("progress of job %s attempt %d: %w", jobID, attempt, err)
	}
	return cancelRequested, nil
}

// touchLease updates a running attempt the worker owns; args fill set's
// placeholders, then ownsSQL's.
func (s *Store) touchLease(ctx context.Context, set string, args []any) (cancelRequested bool, err error) {
	var rows []struct{ CancelRequested bool }
	err = s.db.WithContext(ctx).
		Raw(`UPDATE jobs SET `+set+` WHERE `+ownsSQL+` RETURNING cancel_requested`, args...).
		Scan(&rows).Error
	if err != nil {
		return false, err
	}
	if len(rows) == 0 {
		return false, ErrLeaseLost
	}
	return rows[0].CancelRequested, nil
}

// Outcome is how a worker's attempt ended.
type Outcome struct {
	JobID    uuid.UUID
	Attempt  int
	WorkerID string
	// State is succeeded, failed, cancelled, retrying (again at RetryAt),
	// or queued: a release on graceful shutdown that does not charge the
	// attempt.
	State   jobs.State
	Result  json.RawMessage
	Error   string // failed, retrying: why; the event's message too
	RetryAt time.Time
	Message string // event message for the other states
	// Snooze, with state retrying, runs the job again at RetryAt without
	// charging the attempt (a handler's "not now").
	Snooze bool
	// Workflow says the job is a workflow's (Job.WorkflowID): its success
	// skips the group commit, which would not write it.
	Workflow bool
}

// Finish ends a running attempt the worker still owns; otherwise
// ErrLeaseLost (the reaper or a cancel got there first, or the attempt is
// stale). If a cancel was requested, a retrying or released job becomes
// cancelled instead: the user asked for it not to run again. It returns
// the state the job was left in. A success is group-committed, except
// for a workflow's job (o.Workflow, or found to be one): its end and its
// workflow's resolution commit together (finishIn).
func (s *Store) Finish(ctx context.Context, o Outcome) (jobs.State, error) {
	if o.State == jobs.StateSucceeded && !o.Workflow {
		st, err := s.grouped.completions.Do(ctx, o)
		if !errors.Is(err, ErrLeaseLost) {
			return st, err
		}
		// The batch does not write a workflow's job: try it as one, which
		// answers ErrLeaseLost again if the attempt is really lost.
	}
	var st jobs.State
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		st, err = s.finishIn(ctx, tx, o)
		return err
	})
	return st, err
}

// finishIn writes outcome o in transaction tx, and resolves the workflow
// of a job it ends.
func (s *Store) finishIn(ctx context.Context, tx *gorm.DB, o Outcome) (jobs.State, error) {
	t, err := finishTransition(o)
	if err != nil {
		return "", fmt.Errorf("finish job %s: %w", o.JobID, err)
	}
	if o.State == jobs.StateRetrying || o.State == jobs.StateQueued {
		t.where += ` AND NOT cancel_requested`
	}
	j, ok, err := t.runOne(ctx, tx)
	if err != nil {
		return "", fmt.Errorf("finish job %s as %s: %w", o.JobID, o.State, err)
	}
	if !ok && (o.State == jobs.StateRetrying || o.State == jobs.StateQueued) {
		j, ok, err = s.finishCancelled(ctx, tx, o)
		if err != nil {
			return "", err
		}
	}
	if !ok {
		return "", fmt.Errorf("finish job %s attempt %d as %s: %w", o.JobID, o.Attempt, o.State, ErrLeaseLost)
	}
	if err := s.ended(ctx, tx, j); err != nil {
		return "", fmt.Errorf("finish job %s: %w", o.JobID, err)
	}
	return j.State, nil
}

// finishCancelled ends an attempt whose job had a cancel requested while
// the worker wanted to retry or release it.
func (s *Store) finishCancelled(ctx context.Context, tx *gorm.DB, o Outcome) (Job, bool, error) {
	c := o
	c.State = jobs.StateCancelled
	c.Message = "cancel requested"
	if o.Error != "" {
		c.Message = "cancel requested; last error: " + o.Error
	}
	t, err := finishTransition(c)
	if err != nil {
		return Job{}, false, fmt.Errorf("finish job %s: %w", o.JobID, err)
	}
	t.where += ` AND cancel_requested`
	j, ok, err := t.runOne(ctx, tx)
	if err != nil {
		return Job{}, false, fmt.Errorf("finish job %s as cancelled: %w", o.JobID, err)
	}
	return j, ok, nil
}

// finishTransition builds the UPDATE for an outcome, conditional on the
// worker owning the attempt. Successes are group-committed
// (completeBatchSQL) but a workflow's.
func finishTransition(o Outcome) (transition, error) {
	var (
		set   string
		args  []any
		event = string(o.State)
		msg   = o.Message
	)
	result := nullJSON(o.Result)
	switch o.State {
	case jobs.StateSucceeded:
		set = `result = ?, error = '', progress = 100, finished_at = now()`
		args = []any{result}
	case jobs.StateFailed:
		set = `result = ?, error = ?, finished_at = now()`
		args = []any{result, o.Error}
		msg = o.Error
	case jobs.StateCancelled:
		set = `result = ?, error = ?, finished_at = now()`
		args = []any{result, o.Error}
	case jobs.StateRetrying:
		if o.RetryAt.IsZero() {
			return transition{}, errors.New("retrying outcome has no retry time")
		}
		set = `error = ?, run_at = ?`
		args = []any{o.Error, o.RetryAt}
		msg = o.Error
		if o.Snooze {
			set = `attempt = attempt - 1, run_at = ?, progress = 0, status_message = ?`
			args = []any{o.RetryAt, o.Message}
			event, msg = EventSnoozed, o.Message
		}
	case jobs.StateQueued:
		// A release: the attempt never finished, so it is not charged, and
		// the job goes back through the outbox to be published again.
		set = `attempt = attempt - 1, worker_id = '', published_at = NULL,
			progress = 0, status_message = ''`
		event = EventReleased
	default:
		return transition{}, fmt.Errorf("state %q is not an outcome", o.State)
	}
	t := transition{
		moves: []move{{from: []jobs.State{jobs.StateRunning}, to: o.State}},
		set:   set + `, lease_expires_at = NULL, updated_at = now()`,
		where: attemptSQL,
		args:  append(args, o.JobID, o.Attempt, o.WorkerID),
	}
	return t.withEvent(event, msg), nil
}

// nullJSON maps an absent result to SQL NULL rather than invalid JSON.
func nullJSON(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return []byte(m)
}

// cancelTransition cancels job id (of ownerID, if set) in one statement:
// a job no worker holds is cancelled at once; a running one is flagged,
// and its worker cancels it at its next heartbeat. A running job already
// flagged matches no row, so repeated cancels append no duplicate events.
func cancelTransition(ownerID *uuid.UUID, id uuid.UUID) transition {
	t := transition{
		moves: []move{
			{from: []jobs.State{jobs.StateScheduled, jobs.StateQueued, jobs.StateRetrying}, to: jobs.StateCancelled},
			// Running stays running, flagged: its worker ends it.
			{from: []jobs.State{jobs.StateRunning}, to: jobs.StateRunning},
		},
		set: `cancel_requested = cancel_requested OR state = 'running',
			finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END,
			lease_expires_at = CASE WHEN state = 'running' THEN lease_expires_at ELSE NULL END,
			updated_at = now()`,
		where:     `id = ? AND (state <> 'running' OR NOT cancel_requested)`,
		args:      []any{id},
		eventType: `CASE WHEN state = 'running' THEN '` + EventCancelRequested + `' ELSE '` + EventCancelled + `' END`,
		eventMsg:  `'cancel requested'`,
	}
	if ownerID != nil {
		t.where += ` AND owner_id = ?`
		t.args = append(t.args, *ownerID)
	}
	return t
}

// cancelTries bounds Cancel's loop; each pass either changes the job or
// finds it settled, so a second pass only follows a concurrent transition.
const cancelTries = 5

// Cancel cancels job id for ownerID (nil: any owner). A job not yet
// running is cancelled at once; a running one gets cancel_requested and is
// returned still running. A finished job is pg.ErrConflict; a missing or
// other owner's job is pg.ErrNotFound.
func (s *Store) Cancel(ctx context.Context, ownerID *uuid.UUID, id uuid.UUID) (Job, error) {
	t := cancelTransition(ownerID, id)
	for range cancelTries {
		var (
			j  Job
			ok bool
		)
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var err error
			if j, ok, err = t.runOne(ctx, tx); err != nil || !ok {
				return err
			}
			return s.ended(ctx, tx, j)
		})
		if err != nil {
			return Job{}, fmt.Errorf("cancel job %s: %w", id, err)
		}
		if ok {
			return j, nil
		}
		// Nothing matched: say why, from the job as it is now.
		j, err = s.GetJob(ctx, ownerID, id)
		if err != nil {
			return Job{}, fmt.Errorf("cancel: %w", err)
		}
		switch {
		case j.State.Terminal():
			return Job{}, fmt.Errorf("cancel job %s: already %s: %w", id, j.State, pg.ErrConflict)
		case j.State == jobs.StateRunning && j.CancelRequested:
			return j, nil
		}
		// It changed state between the two statements; try again.
	}
	return Job{}, fmt.Errorf("cancel job %s: state keeps changing, gave up after %d tries", id, cancelTries)
}

// EncodeCursor is the keyset cursor after a row created at createdAt
// with id, for other aggregates' lists (workflows) to page as ListJobs.
func EncodeCursor(createdAt time.Time, id uuid.UUID) string {
	return encodeCursor(cursor{createdAt: createdAt, id: id})
}

// DecodeCursor reads a cursor of EncodeCursor; ErrBadCursor otherwise.
func DecodeCursor(s string) (createdAt time.Time, id uuid.UUID, err error) {
	c, err := decodeCursor(s)
	return c.createdAt, c.id, err
}
