// Command chat-worker runs Hopper's chat-worker service (chat.*, qa.* kinds, plus system.*).
package main

import (
	"os"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/services/chat-worker/app"
)

func main() {
	os.Exit(hopper.Main(config.ChatWorker, app.Run))
}
