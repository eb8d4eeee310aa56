package dispatch_test

import "github.com/hopperq/hopper/pkg/broker"

// testTopology is a topology whose queues bind topic patterns, as a
// deployment's services would declare them.
func testTopology(prefix, queueType string) broker.Topology {
	topo := broker.NewTopology(prefix, queueType)
	for _, b := range [][2]string{{"chat", "chat.#"}, {"chat", "qa.#"}, {"document", "document.#"},
		{"maintenance", "maintenance.#"}, {"maintenance", "system.#"}} {
		topo.Bind(b[0], b[1])
	}
	return topo
}
