package hopper

import (
	"context"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/worker"
)

// Main is the whole main() of a worker service: it loads the HOPPER_*
// configuration of service (a bad variable: one line naming it, exit code
// 2), builds the logger, sets the Go memory limit from
// HOPPER_MEMORY_LIMIT_MIB (about 90% of it), and calls run until SIGINT or SIGTERM, which
// ends run's ctx (Run then drains). It returns the exit code:
//
//	func main() { os.Exit(hopper.Main("leaderboard", run)) }
//
//	func run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
//		w, err := hopper.NewWorker(hopper.WorkerConfig{Config: &cfg, Logger: log})
//		...
//		return w.Run(ctx)
//	}
//
// "<service> healthcheck" instead probes the running service's /healthz
// on HOPPER_METRICS_ADDR and exits 0 or 1 (a container HEALTHCHECK).
func Main(service string, run func(ctx context.Context, cfg config.Config, log *zap.Logger) error) int {
	return worker.Main(service, run)
}
