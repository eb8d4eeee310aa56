package jobstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/jobs"
)

// cleanupBatch bounds the rows one cleanup statement deletes, so no
// statement holds many row locks or runs long on a busy jobs table.
const cleanupBatch = 1000

// DeleteFinishedJobs deletes jobs that ended in state before cutoff (and
// their timeline, by cascade), cleanupBatch rows per statement, until none
// is left or ctx ends. It returns how many it deleted.
func (s *Store) DeleteFinishedJobs(ctx context.Context, state jobs.State, cutoff time.Time) (int64, error) {
	var total int64
	for {
		res := s.db.WithContext(ctx).Exec(`DELETE FROM jobs WHERE id IN (
	SELECT id FROM jobs WHERE state = ? AND finished_at < ?
	ORDER BY finished_at LIMIT ? FOR UPDATE SKIP LOCKED)`, string(state), cutoff, cleanupBatch)
		if res.Error != nil {
			return total, fmt.Errorf("delete %s jobs: %w", state, res.Error)
		}
		total += res.RowsAffected
		if res.RowsAffected < cleanupBatch {
			return total, nil
		}
	}
}

// KindUsage is one kind's figures in a usage report.
type KindUsage struct {
	Kind        string           `json:"kind"`
	Total       int64            `json:"total"`
	ByState     map[string]int64 `json:"by_state"`
	SuccessRate *float64         `json:"success_rate"` // succeeded / finished; null when none finished
	WaitP50Ms   *float64         `json:"queue_wait_p50_ms"`
	WaitP95Ms   *float64         `json:"queue_wait_p95_ms"`
	RunP50Ms    *float64         `json:"run_time_p50_ms"`
	RunP95Ms    *float64         `json:"run_time_p95_ms"`
}

// UsageReport is a user's usage over a window.
type UsageReport struct {
	OwnerID uuid.UUID   `json:"user_id"`
	Days    int         `json:"days"`
	Since   time.Time   `json:"since"`
	Until   time.Time   `json:"until"`
	Total   int64       `json:"total"`
	Kinds   []KindUsage `json:"kinds"`
}

// Usage reports owner's jobs created in the last days days, by kind:
// counts by state, success rate, queue wait (due → started) and run time
// (started → finished) percentiles of the last attempt.
func (s *Store) Usage(ctx context.Context, owner uuid.UUID, days int, now time.Time) (UsageReport, error) {
	since := now.Add(-time.Duration(days) * 24 * time.Hour)
	rep := UsageReport{OwnerID: owner, Days: days, Since: since, Until: now, Kinds: []KindUsage{}}
	var counts []struct {
		Kind  string
		State string
		N     int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT kind, state, count(*) AS n FROM jobs
WHERE owner_id = ? AND created_at >= ? GROUP BY kind, state ORDER BY kind, state`, owner, since).Scan(&counts).Error
	if err != nil {
		return rep, fmt.Errorf("usage counts: %w", err)
	}
	var timing []struct {
		Kind      string
		WaitP50Ms *float64
		WaitP95Ms *float64
		RunP50Ms  *float64
		RunP95Ms  *float64
	}
	err = s.db.WithContext(ctx).Raw(`SELECT kind,
  percentile_cont(0.5)  WITHIN GROUP (ORDER BY extract(epoch FROM started_at - run_at) * 1000) AS wait_p50_ms,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - run_at) * 1000) AS wait_p95_ms,
  percentile_cont(0.5)  WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000) AS run_p50_ms,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at) * 1000) AS run_p95_ms
FROM jobs
WHERE owner_id = ? AND created_at >= ? AND started_at IS NOT NULL AND finished_at IS NOT NULL
GROUP BY kind`, owner, since).Scan(&timing).Error
	if err != nil {
		return rep, fmt.Errorf("usage timing: %w", err)
	}
	index := map[string]int{}
	for _, c := range counts {
		i, ok := index[c.Kind]
		if !ok {
			rep.Kinds = append(rep.Kinds, KindUsage{Kind: c.Kind, ByState: map[string]int64{}})
			i = len(rep.Kinds) - 1
			index[c.Kind] = i
		}
		rep.Kinds[i].ByState[c.State] = c.N
		rep.Kinds[i].Total += c.N
		rep.Total += c.N
	}
	for i := range rep.Kinds {
		k := &rep.Kinds[i]
		finished := k.ByState["succeeded"] + k.ByState["failed"] + k.ByState["cancelled"]
		if finished > 0 {
			r := float64(k.ByState["succeeded"]) / float64(finished)
			k.SuccessRate = &r
		}
		for _, t := range timing {
			if t.Kind == k.Kind {
				k.WaitP50Ms, k.WaitP95Ms, k.RunP50Ms, k.RunP95Ms = t.WaitP50Ms, t.WaitP95Ms, t.RunP50Ms, t.RunP95Ms
			}
		}
	}
	return rep, nil
}
