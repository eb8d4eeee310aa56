// Package app runs the push worker: written on the public SDK as any
// worker service, it serves the queue push with one handler
// (Worker.HandleQueue), so the push kinds admins declare — at any time —
// are delivered without a restart: each job is POSTed, signed with its
// kind's secrets, to the kind's URL, and the answer decides the job.
package app

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/webhook"
)

// Run serves the push worker until ctx ends, with the push settings read
// from the environment.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	settings, err := push.LoadSettings(os.Getenv)
	if err != nil {
		return err
	}
	return Serve(ctx, cfg, settings, log)
}

// Serve is Run with the push settings given (tests).
func Serve(ctx context.Context, cfg config.Config, settings push.Settings, log *zap.Logger) error {
	log.Info("push settings", zap.String("allow_hosts", settings.AllowHosts.String()),
		zap.String("callback_url", settings.CallbackURL))
	if settings.CallbackURL == "" {
		log.Warn("HOPPER_PUSH_CALLBACK_URL is not set: deliveries carry no Hopper-Callback-Url, so targets answering 202 must know the gateway's address themselves")
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.Concurrency + 2, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	// Its Timeout only bounds the longest attempt; each delivery is bounded
	// by its kind's timeout (the handler's deadline).
	wd, err := webhook.New(webhook.Config{Timeout: push.MaxTimeout, Allow: settings.AllowHosts})
	if err != nil {
		return fmt.Errorf("push deliverer: %w", err)
	}
	defer wd.Close()
	lim := ratelimit.New(log)
	lim.Bind(st)
	d := newDeliverer(st.Push, wd, lim, settings.CallbackURL, cfg.Concurrency)
	w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: log})
	if err != nil {
		return err
	}
	w.HandleQueue(push.Queue, d.handle)
	return w.Run(ctx)
}
