// Package hopper is Hopper's Go SDK: everything needed to write a worker
// service of one's own, and to enqueue jobs from a Go backend.
//
// A worker service defines its kinds — name, queue, defaults and a
// payload JSON Schema — registers a handler for each, and runs:
//
//	type Recalculate struct {
//		Board string `json:"board"`
//	}
//
//	func (Recalculate) Kind() hopper.KindSpec {
//		return hopper.KindSpec{Name: "leaderboard.recalculate", MaxAttempts: 5, Timeout: 2 * time.Minute}
//	}
//
//	w, err := hopper.NewWorker(hopper.WorkerConfig{Service: "leaderboard"}) // HOPPER_* from the environment
//	hopper.Handle(w, func(ctx context.Context, j *hopper.Job[Recalculate]) (Result, error) { ... })
//	err = w.Run(ctx)
//
// Run publishes the kinds to the catalogue in Postgres, from which every
// gateway accepts them within seconds (validating payloads against their
// schemas), binds each kind to its queue, and runs the same runtime as
// Hopper's own chat, document and maintenance workers: consume in
// priority order, claim under a lease, heartbeat, fleet-wide cancel,
// graceful drain on SIGTERM, Prometheus metrics and health probes.
//
// A handler ends its job by what it returns: a result (succeeded), an
// error (retried with backoff until the kind's attempts are used),
// Permanent(err) (failed at once), RetryAfter(err, d) (retried no sooner
// than d), or Snooze(d) (run again after d without using an attempt).
// Cancelling a running job, and the job's timeout, end the handler's ctx.
package hopper
