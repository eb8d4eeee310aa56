// Package worker is the runtime every Hopper worker service shares: it
// takes deliveries from the service's queues, claims each job in Postgres,
// acks the delivery, runs the kind's handler under the job's deadline with
// a lease it keeps renewing, and writes the outcome back — succeeded,
// retrying with backoff, failed, or cancelled.
//
// A service registers handlers by kind on a Processor and starts it with
// RunService, which also serves /healthz and /readyz on the service's
// metrics address and drains in-flight jobs on shutdown.
package worker
