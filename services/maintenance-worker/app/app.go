// Package app runs the maintenance-worker service: it consumes the queues
// named by HOPPER_QUEUES and runs maintenance.webhook (signed completion
// webhooks), maintenance.email (SMTP mail and job-finished notices),
// maintenance.cleanup (retention), maintenance.report (usage) and
// system.*.
package app

import (
	"context"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/worker"
)

// Run serves the maintenance-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	wh, err := newWebhookSender(cfg)
	if err != nil {
		return err
	}
	defer wh.close()
	if !wh.configured() {
		log.Warn("HOPPER_WEBHOOK_SECRET is not set: webhook deliveries will fail until it is")
	}
	em, err := newEmailSender(cfg, log)
	if err != nil {
		return err
	}
	if !em.configured() {
		log.Warn("mail is not configured: maintenance.email jobs will fail until it is", zap.String("missing", em.missing.Setting))
	}
	register := func(p *worker.Processor, st *store.Store) {
		wh.store = st
		em.store = st
		p.Handle(jobs.KindWebhook, wh.handle)
		p.Handle(jobs.KindEmail, em.handle)
		p.Handle(jobs.KindCleanup, (&cleaner{store: st, retention: cfg.Retention, log: log}).handle)
		p.Handle(jobs.KindReport, (&reporter{store: st}).handle)
	}
	return worker.RunService(ctx, worker.Service{Config: cfg, Logger: log, Register: register})
}
