// Package app runs the maintenance-worker service: it consumes the queues
// named by HOPPER_QUEUES and runs maintenance.webhook (completion webhooks
// signed with their owner's secrets), maintenance.email (SMTP mail and job-finished notices),
// maintenance.cleanup (retention), maintenance.report (usage) and
// system.*.
package app

import (
	"context"
	"os"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store"
)

// Run serves the maintenance-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	settings, err := product.LoadSettings(os.Getenv)
	if err != nil {
		return err
	}
	log.Info("product settings", settings.LogFields()...)
	wh, err := newWebhookSender(settings)
	if err != nil {
		return err
	}
	defer wh.close()
	if os.Getenv("HOPPER_WEBHOOK_SECRET") != "" {
		// One secret for every tenant let any tenant verify, and so forge,
		// another's webhooks; each user now signs with their own.
		log.Warn("HOPPER_WEBHOOK_SECRET is no longer used: webhooks are signed with their owner's secrets (POST /v1/users/me/webhook-secrets)")
	}
	em, err := newEmailSender(settings, log)
	if err != nil {
		return err
	}
	if !em.configured() {
		log.Warn("mail is not configured: maintenance.email jobs will fail until it is", zap.String("missing", em.missing.Setting))
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.Concurrency + 2, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	wh.store, em.store = st, st
	handlers := map[string]hopper.HandlerFunc{
		product.KindWebhook: wh.handle,
		product.KindEmail:   em.handle,
		product.KindCleanup: (&cleaner{store: st, retention: settings.Retention, log: log}).handle,
		product.KindReport:  (&reporter{store: st}).handle,
	}
	w, err := product.NewWorker(cfg, log, product.MaintenanceWorker, handlers)
	if err != nil {
		return err
	}
	for _, d := range product.DefaultSchedules() {
		w.Schedule(hopper.Schedule{Name: d.Name, Spec: d.Spec, Timezone: d.Timezone, Kind: d.Kind, Payload: d.Payload})
	}
	return w.Run(ctx)
}
