// Command gateway serves Hopper's HTTP API and runs the dispatcher.
//
//	gateway           serve (migrates first)
//	gateway migrate   apply database migrations and exit
//	gateway healthcheck  probe a running gateway's /healthz (container HEALTHCHECK)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/httpx"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/services/gateway/app"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	cfg, err := config.Load(config.Gateway, os.Getenv)
	if err != nil {
		return err
	}
	log, err := hlog.New(cfg.Service, cfg.Env, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if n := cfg.ApplyMemoryLimit(); n > 0 {
		log.Info("go memory limit set from HOPPER_MEMORY_LIMIT_MIB", zap.Int64("bytes", n))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch {
	case len(args) == 0 || args[0] == "serve":
		return app.Run(ctx, cfg, log, app.Options{})
	case args[0] == "migrate":
		return app.Migrate(ctx, cfg, log)
	case args[0] == "healthcheck":
		return httpx.Probe(ctx, cfg.HTTPAddr, "/healthz")
	default:
		return fmt.Errorf("unknown command %q (want serve, migrate or healthcheck)", args[0])
	}
}
