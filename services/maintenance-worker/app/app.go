// Package app runs the maintenance-worker service: it consumes the queues named by
// HOPPER_QUEUES and runs the maintenance.* kinds (as they land) and system.*.
package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/worker"
)

// Run serves the maintenance-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	return worker.RunService(ctx, worker.Service{Config: cfg, Logger: log, Register: register})
}

// register adds this service's domain handlers; system.* come with the
// runtime.
func register(_ *worker.Processor) {}
