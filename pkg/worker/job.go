package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/store/content"
)

// Job is what a handler sees of the job it runs.
type Job struct {
	ID          uuid.UUID
	Kind        string
	Queue       string // the queue it was delivered on
	Attempt     int    // 1-based
	MaxAttempts int
	Owner       uuid.UUID
	Payload     json.RawMessage
	// Workflow is set when the job runs a workflow's step.
	Workflow *WorkflowStep

	reporter  *progressReporter
	output    *outputWriter
	log       *zap.Logger
	artifacts artifactWriter
	parents   parentReader
}

// WorkflowStep names the workflow step a job runs.
type WorkflowStep struct {
	ID   uuid.UUID
	Step string
	// Element is the job's position in a fan-out step, from 0 (its
	// payload's "index"); nil for a step of one job.
	Element *int
}

// ParentResults returns the results of the parents of the workflow step
// this job runs, by step name: a parent's result as its handler returned
// it, or for a fan-out parent the list of its elements' results in
// element order. They are read from the parents' own job rows when
// called, never copied into this job. A job outside a workflow has none.
func (j *Job) ParentResults(ctx context.Context) (map[string]json.RawMessage, error) {
	if j.Workflow == nil {
		return map[string]json.RawMessage{}, nil
	}
	if j.parents == nil {
		return nil, errors.New("parent results: this job has no store")
	}
	res, err := j.parents.ParentResults(ctx, j.ID)
	if err != nil {
		return nil, fmt.Errorf("parent results: %w", err)
	}
	return res, nil
}

// Output appends text to the job's output, which clients follow live at
// GET /v1/jobs/{id}/output (Server-Sent Events, one event per chunk, in
// order) and read whole after the job ended. Chunks are batched: each
// is written within ~20 ms, so calling Output per LLM token is the
// intended use. Text longer than 16 KiB is split; invalid UTF-8 is
// replaced. It fails with ErrOutputLimit past the attempt's output limit
// (HOPPER_OUTPUT_MAX_BYTES), and with the error of an earlier write that
// failed (a lost lease).
func (j *Job) Output(ctx context.Context, text string) error {
	if j.output == nil {
		return errors.New("output: this job has no output writer")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return j.output.write(text)
}

// Write makes a Job an io.Writer of its output (fmt.Fprintf, a template,
// io.Copy from a stream): each call is one Output.
func (j *Job) Write(p []byte) (int, error) {
	if j.output == nil {
		return 0, errors.New("output: this job has no output writer")
	}
	if err := j.output.write(string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Logger returns a logger carrying the job's id, kind and attempt.
func (j *Job) Logger() *zap.Logger {
	if j.log == nil {
		return zap.NewNop()
	}
	return j.log
}

// PutArtifact stores a file produced by the job (an image, a report),
// replacing one of the same name; clients read it at
// GET /v1/jobs/{id}/artifacts/{name}. Artifacts live in Postgres: keep them
// to a few MiB.
func (j *Job) PutArtifact(ctx context.Context, name, contentType string, data []byte) error {
	if j.artifacts == nil {
		return errors.New("put artifact: this job has no artifact store")
	}
	if _, err := j.artifacts.PutArtifact(ctx, j.ID, content.NewArtifact{Name: name, ContentType: contentType, Data: data}); err != nil {
		return fmt.Errorf("put artifact %s: %w", name, err)
	}
	return nil
}

// Progress records how far the job is (0–100) and a short status message,
// readable by clients at once. Writes are throttled: calls closer together
// than the throttle interval keep only the latest value, which the
// heartbeat flushes. Progress also renews the job's lease.
func (j *Job) Progress(ctx context.Context, pct int, msg string) error {
	if j.reporter == nil {
		return nil
	}
	return j.reporter.report(ctx, pct, msg)
}

// HandlerFunc runs one attempt of a job. A nil error with a result marks
// the job succeeded; the result must marshal to JSON. Return Permanent(err)
// for errors a retry cannot fix (bad input).
type HandlerFunc func(ctx context.Context, job *Job) (result any, err error)

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the job fails at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// Permanentf is Permanent(fmt.Errorf(...)).
func Permanentf(format string, args ...any) error {
	return Permanent(fmt.Errorf(format, args...))
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as retryable no sooner than after (a receiver's or
// provider's Retry-After): the next attempt waits the longer of after and
// the kind's backoff, and no longer than the kind's backoff cap allows
// for after.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err: err, after: after}
}

// retryAfter returns the delay RetryAfter attached to err, if any.
func retryAfter(err error) (time.Duration, bool) {
	var r retryAfterError
	if errors.As(err, &r) && r.after > 0 {
		return r.after, true
	}
	return 0, false
}

type snoozeError struct{ until time.Time }

func (e snoozeError) Error() string { return "snoozed until " + e.until.UTC().Format(time.RFC3339) }

// Snooze asks for the job to run again after d without charging the
// attempt (River's JobSnooze): "not now", e.g. a resource is not ready
// yet. The job waits in state retrying with the event "snoozed".
func Snooze(d time.Duration) error {
	return snoozeError{until: time.Now().Add(max(d, 0))}
}

// SnoozeUntil is Snooze up to the time t.
func SnoozeUntil(t time.Time) error {
	return snoozeError{until: t}
}

// snoozedUntil returns the time Snooze asked for, if err is a snooze.
func snoozedUntil(err error) (time.Time, bool) {
	var s snoozeError
	if errors.As(err, &s) {
		return s.until, true
	}
	return time.Time{}, false
}

// detachError is Detach's.
type detachError struct{ lease time.Duration }

func (e detachError) Error() string { return "detached for " + e.lease.String() }

// Detach ends the handler without finishing its job: the attempt stays
// running, its lease extended to lease, for a party outside this worker to
// finish — an HTTP target that answered 202 finishes it through its
// job-scoped callback. The worker's slot is free at once, so a long task
// costs no goroutine and no slot. If nobody finishes it before the lease
// ends, the reaper retries it as it would a crashed worker's.
func Detach(lease time.Duration) error {
	return detachError{lease: lease}
}

// detachedFor returns the lease Detach asked for, if err is a detach.
func detachedFor(err error) (time.Duration, bool) {
	var d detachError
	if errors.As(err, &d) && d.lease > 0 {
		return d.lease, true
	}
	return 0, false
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// progressReporter writes progress for one attempt, throttled, and tells
// the runtime when the job was cancelled or its lease lost.
type progressReporter struct {
	store    leaseStore
	jobID    uuid.UUID
	attempt  int
	workerID string
	lease    time.Duration
	throttle time.Duration
	onSignal func(cancelRequested bool, err error)

	mu        sync.Mutex
	lastWrite time.Time
	pending   bool
	pct       int
	msg       string
}

func (r *progressReporter) report(ctx context.Context, pct int, msg string) error {
	r.mu.Lock()
	r.pct, r.msg = pct, msg
	if pct < 100 && time.Since(r.lastWrite) < r.throttle {
		r.pending = true
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	return r.flush(ctx, true)
}

// flush writes the latest progress (or only renews the lease when nothing
// is pending and force is false).
func (r *progressReporter) flush(ctx context.Context, force bool) error {
	r.mu.Lock()
	write := force || r.pending
	pct, msg := r.pct, r.msg
	r.pending = false
	if write {
		r.lastWrite = time.Now()
	}
	r.mu.Unlock()

	var cancelRequested bool
	var err error
	if write {
		cancelRequested, err = r.store.Progress(ctx, r.jobID, r.attempt, r.workerID, pct, msg, r.lease)
	} else {
		cancelRequested, err = r.store.Heartbeat(ctx, r.jobID, r.attempt, r.workerID, r.lease)
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	r.onSignal(cancelRequested, err)
	if err != nil {
		return fmt.Errorf("report progress: %w", err)
	}
	return nil
}
