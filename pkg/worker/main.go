package worker

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	hlog "github.com/hopperq/hopper/pkg/log"
)

// RunFunc is a worker service's app.Run.
type RunFunc func(ctx context.Context, cfg config.Config, log *zap.Logger) error

// Main is the whole main() of a worker service: load the configuration
// (one clear line and exit code 2 when it is bad), build the logger, run
// until SIGINT/SIGTERM. It returns the process exit code.
func Main(service string, run RunFunc) int {
	cfg, err := config.Load(service, os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		return 2
	}
	log, err := hlog.New(cfg.Service, cfg.Env, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exited with error", zap.Error(err))
		return 1
	}
	return 0
}
