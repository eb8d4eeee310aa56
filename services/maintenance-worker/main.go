// Command maintenance-worker runs Hopper's maintenance-worker service (maintenance.* kinds, plus system.*).
package main

import (
	"os"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/services/maintenance-worker/app"
)

func main() {
	os.Exit(hopper.Main(config.MaintenanceWorker, app.Run))
}
