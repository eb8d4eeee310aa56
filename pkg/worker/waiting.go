package worker

import (
	"container/heap"

	"github.com/hopperq/hopper/pkg/broker"
)

// waiting holds the deliveries received but not started, highest
// priority first, then in arrival order. RabbitMQ delivers a priority
// queue's messages in order, but the prefetched ones then sit in the
// client in the order they came: without this, a high-priority job
// arriving behind a full prefetch of low ones waited for all of them.
// It never holds more than the prefetch (the broker's unacked bound).
type waiting struct {
	items []waitingDelivery
	seq   uint64
}

type waitingDelivery struct {
	d   broker.Delivery
	seq uint64
}

func (w *waiting) push(d broker.Delivery) {
	w.seq++
	heap.Push((*waitingHeap)(w), waitingDelivery{d: d, seq: w.seq})
}

func (w *waiting) pop() broker.Delivery {
	return heap.Pop((*waitingHeap)(w)).(waitingDelivery).d
}

func (w *waiting) len() int { return len(w.items) }

// waitingHeap is waiting as container/heap sees it.
type waitingHeap waiting

func (h *waitingHeap) Len() int { return len(h.items) }

func (h *waitingHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.d.Priority != b.d.Priority {
		return a.d.Priority > b.d.Priority
	}
	return a.seq < b.seq
}

func (h *waitingHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }

func (h *waitingHeap) Push(x any) { h.items = append(h.items, x.(waitingDelivery)) }

func (h *waitingHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items[len(h.items)-1] = waitingDelivery{}
	h.items = h.items[:len(h.items)-1]
	return last
}
