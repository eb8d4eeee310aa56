package api

import (
	"sync"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// uploadSlots bounds the uploads in progress, per API key and in total:
// each holds a database connection and a part buffer for as long as its
// client takes to send the file, so a few slow or hostile clients must
// not take the pool or the memory of everyone else.
type uploadSlots struct {
	perKey, total int // 0: unbounded
	mu            sync.Mutex
	byKey         map[uuid.UUID]int
	inUse         int
}

// slotRefusal says why acquire refused.
type slotRefusal int

const (
	slotGranted slotRefusal = iota
	slotsPerKeyFull
	slotsTotalFull
)

func newUploadSlots(perKey, total int) *uploadSlots {
	return &uploadSlots{perKey: perKey, total: total, byKey: map[uuid.UUID]int{}}
}

// acquire takes a slot for key; on slotGranted, release gives it back
// (once; later calls do nothing).
func (s *uploadSlots) acquire(key uuid.UUID) (release func(), refusal slotRefusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.perKey > 0 && s.byKey[key] >= s.perKey:
		return nil, slotsPerKeyFull
	case s.total > 0 && s.inUse >= s.total:
		return nil, slotsTotalFull
	}
	s.byKey[key]++
	s.inUse++
	return sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.inUse--
		if s.byKey[key]--; s.byKey[key] <= 0 {
			delete(s.byKey, key)
		}
	}), slotGranted
}

// inProgress counts the uploads holding a slot.
func (s *uploadSlots) inProgress() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse
}

// gauge exports inProgress as hopper_uploads_in_progress.
func (s *uploadSlots) gauge() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hopper_uploads_in_progress",
		Help: "Uploads this gateway is receiving (bounded by HOPPER_UPLOADS_TOTAL).",
	}, func() float64 { return float64(s.inProgress()) })
}
