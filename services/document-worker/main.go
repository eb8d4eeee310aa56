// Command document-worker runs Hopper's document-worker service (document.* kinds, plus system.*).
package main

import (
	"os"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/services/document-worker/app"
)

func main() {
	os.Exit(hopper.Main(config.DocumentWorker, app.Run))
}
