// Command push-worker runs Hopper's push worker: it delivers the jobs of
// push kinds (kinds whose handler is an HTTP endpoint an admin declared)
// as signed POSTs.
package main

import (
	"os"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/services/push-worker/app"
)

func main() {
	os.Exit(hopper.Main(push.Service, app.Run))
}
