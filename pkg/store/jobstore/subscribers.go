package jobstore

import (
	"sync"

	"github.com/google/uuid"
)

// subscribers are the channels subscribed to each job (uuid.Nil: to every
// job), safe for concurrent use: the job notifier's wake-ups and the
// output listener's notes. Senders never block: a full channel's
// subscriber is behind and reads again on its own.
type subscribers[T any] struct {
	buffer int // each channel's capacity
	mu     sync.Mutex
	subs   map[uuid.UUID]map[chan T]struct{}
}

func newSubscribers[T any](buffer int) *subscribers[T] {
	return &subscribers[T]{buffer: buffer, subs: map[uuid.UUID]map[chan T]struct{}{}}
}

// subscribe returns a channel receiving job id's values and the function
// that ends the subscription (safe to call more than once).
func (s *subscribers[T]) subscribe(id uuid.UUID) (<-chan T, func()) {
	ch := make(chan T, s.buffer)
	s.mu.Lock()
	set := s.subs[id]
	if set == nil {
		set = map[chan T]struct{}{}
		s.subs[id] = set
	}
	set[ch] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.subs[id], ch)
			if len(s.subs[id]) == 0 {
				delete(s.subs, id)
			}
		})
	}
}

// ids returns the jobs with subscribers, uuid.Nil among them when someone
// subscribed to every job.
func (s *subscribers[T]) ids() []uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uuid.UUID, 0, len(s.subs))
	for id := range s.subs {
		out = append(out, id)
	}
	return out
}

// send offers v to every subscriber of job id and reports how many there
// are.
func (s *subscribers[T]) send(id uuid.UUID, v T) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs[id] {
		offer(ch, v)
	}
	return len(s.subs[id])
}

// sendAll offers v to every subscriber of every job.
func (s *subscribers[T]) sendAll(v T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range s.subs {
		for ch := range set {
			offer(ch, v)
		}
	}
}

// offer sends v unless ch is full.
func offer[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}
