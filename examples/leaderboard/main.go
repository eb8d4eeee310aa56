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
	"os"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
)

// main loads the HOPPER_* configuration, runs until SIGINT or SIGTERM
// (then drains), and serves `leaderboard healthcheck`, the image's
// HEALTHCHECK.
func main() {
	os.Exit(hopper.Main("leaderboard", run))
}

func run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: log})
	if err != nil {
		return err
	}
	hopper.Handle(w, recalculate)
	return w.Run(ctx)
}
