package dispatch

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// reaper takes back jobs whose worker stopped renewing the lease: they go
// to retrying (published again after backoff) or failed when their
// attempts are used up. No job stays running forever.
type reaper struct {
	store    reapStore
	registry jobs.Catalog
	batch    int
	log      *zap.Logger
}

func (r *reaper) pass(ctx context.Context) error {
	reaped, err := r.store.ReapExpired(ctx, time.Now(), r.batch, func(j jobstore.Job) time.Time {
		return retryAt(r.registry, j)
	})
	if err != nil {
		return fmt.Errorf("reap expired leases: %w", err)
	}
	for _, j := range reaped {
		r.log.Warn("lease expired", hlog.JobID(j.ID.String()), hlog.Kind(j.Kind), hlog.Attempt(j.Attempt),
			zap.String("worker_id", j.WorkerID), zap.String("state", string(j.State)))
	}
	return nil
}
