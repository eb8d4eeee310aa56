// Package jobs holds Hopper's job model without any I/O: the kind registry
// (which queue a kind goes to, its default priority, attempts and timeout),
// the job states and the transitions allowed between them, priority names,
// submit validation and retry backoff.
//
// Every other package builds on these types; keeping them pure lets the
// gateway, the workers and the dispatcher agree on the rules without
// sharing a database connection.
package jobs
