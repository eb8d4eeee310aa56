// Command leaderboard is a worker service written on Hopper's public Go
// SDK, outside Hopper's own services, as a team's own service would be:
// it runs leaderboard.recalculate, which ranks a board's players and
// reports progress as it goes.
//
// Run it next to a Hopper stack (make run) from this folder:
//
//	go run .
//
// then submit a job:
//
//	curl -s localhost:8080/v1/jobs -H "Authorization: Bearer $KEY" \
//	  -d '{"kind": "leaderboard.recalculate", "payload": {"board": "weekly"}}'
//
// It reads the same HOPPER_* variables as Hopper's own workers
// (HOPPER_DATABASE_URL, HOPPER_AMQP_URL, HOPPER_CONCURRENCY, …).
// `leaderboard healthcheck` probes a running instance's /healthz on
// HOPPER_METRICS_ADDR (the container image's HEALTHCHECK; Dockerfile).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hopperq/hopper/pkg/hopper"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "leaderboard:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	w, err := hopper.NewWorker(hopper.WorkerConfig{Service: "leaderboard"})
	if err != nil {
		return err
	}
	hopper.Handle(w, recalculate)
	return w.Run(ctx)
}
