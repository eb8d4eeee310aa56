package hopper

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hopperq/hopper/pkg/worker"
)

// RawJob is what a handler sees of the job it runs: ID, Kind, Attempt
// (1-based), MaxAttempts, Owner and the raw Payload, with Progress (0–100
// and a status message clients see at once), PutArtifact (a file clients
// can download) and Logger (carrying job_id, kind and attempt).
type RawJob = worker.Job

// Job is a job whose payload was decoded into Args (River's Job[T]).
type Job[T any] struct {
	*RawJob
	Args T
}

// HandlerFunc runs one attempt of a raw job (asynq-style). The result, if
// not nil, must marshal to JSON.
type HandlerFunc = worker.HandlerFunc

// Permanent marks err as one a retry cannot fix: the job fails at once.
func Permanent(err error) error { return worker.Permanent(err) }

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return worker.Permanentf(format, args...) }

// RetryAfter retries the job no sooner than after (e.g. a provider's
// Retry-After), within the kind's backoff cap; the attempt counts.
func RetryAfter(err error, after time.Duration) error { return worker.RetryAfter(err, after) }

// Snooze runs the job again after d without using an attempt.
func Snooze(d time.Duration) error { return worker.Snooze(d) }

// SnoozeUntil runs the job again at t without using an attempt.
func SnoozeUntil(t time.Time) error { return worker.SnoozeUntil(t) }

// Detach ends the handler without finishing its job: the attempt stays
// running under a lease of lease, for someone outside the worker to
// finish — a push target that answered 202 finishes it through its
// job-scoped callback (POST /v1/push/callback/…). The worker's slot is
// free at once, so an hour-long task holds no goroutine and no slot. If
// nobody finishes the attempt before its lease ends, the reaper retries
// it (or fails it when its attempts are used), as for a crashed worker.
func Detach(lease time.Duration) error { return worker.Detach(lease) }

// typed adapts a typed handler to a raw one. A payload that does not
// decode into T fails the job at once: no retry can fix it. (The gateway
// has checked it against the kind's schema already.)
func typed[T, R any](fn func(context.Context, *Job[T]) (R, error)) HandlerFunc {
	return func(ctx context.Context, raw *RawJob) (any, error) {
		j := &Job[T]{RawJob: raw}
		if len(raw.Payload) > 0 {
			if err := json.Unmarshal(raw.Payload, &j.Args); err != nil {
				return nil, Permanent(fmt.Errorf("decode payload: %w", err))
			}
		}
		out, err := fn(ctx, j)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool { return worker.IsPermanent(err) }
