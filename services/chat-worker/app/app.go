// Package app runs the chat-worker service: it consumes the queues named by
// HOPPER_QUEUES and runs qa.ask (retrieval over the user's documents with
// citations), the chat.* kinds as they land, and system.*.
package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/worker"
)

// Run serves the chat-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	register := func(p *worker.Processor, st *store.Store) {
		qa := &answerer{store: st}
		p.Handle(jobs.KindQAAsk, qa.handle)
	}
	return worker.RunService(ctx, worker.Service{Config: cfg, Logger: log, Register: register})
}
