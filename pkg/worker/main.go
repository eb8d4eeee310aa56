package worker

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/httpx"
	hlog "github.com/hopperq/hopper/pkg/log"
)

// RunFunc is a worker service's app.Run.
type RunFunc func(ctx context.Context, cfg config.Config, log *zap.Logger) error

// Main is the whole main() of a worker service: load the configuration
// (one clear line and exit code 2 when it is bad), build the logger, set
// the Go memory limit (HOPPER_MEMORY_LIMIT_MIB), run until SIGINT/SIGTERM. It returns the process exit code.
//
// `<service> healthcheck` instead probes the running service's /healthz on
// HOPPER_METRICS_ADDR and exits 0 or 1 (the container HEALTHCHECK).
func Main(service string, run RunFunc) int {
	cfg, err := config.Load(service, os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		return 2
	}
	if len(os.Args) > 1 {
		return command(cfg, os.Args[1:])
	}
	log, err := hlog.New(cfg.Service, cfg.Env, cfg.LogLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if n := cfg.ApplyMemoryLimit(); n > 0 {
		log.Info("go memory limit set from HOPPER_MEMORY_LIMIT_MIB", zap.Int64("bytes", n))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("exited with error", zap.Error(err))
		return 1
	}
	return 0
}

// command runs a subcommand of a worker binary.
func command(cfg config.Config, args []string) int {
	switch args[0] {
	case "healthcheck":
		if _, port, err := net.SplitHostPort(cfg.MetricsAddr); err != nil || port == "0" {
			fmt.Fprintf(os.Stderr, "%s: HOPPER_METRICS_ADDR %q names no fixed port to probe\n", cfg.Service, cfg.MetricsAddr)
			return 1
		}
		if err := httpx.Probe(context.Background(), cfg.MetricsAddr, "/healthz"); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", cfg.Service, err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown command %q (want no arguments, or healthcheck)\n", cfg.Service, args[0])
		return 2
	}
}
