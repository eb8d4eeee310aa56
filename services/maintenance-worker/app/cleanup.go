package app

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// cleanupStore deletes what is past its retention.
type cleanupStore interface {
	DeleteFinishedJobs(ctx context.Context, state jobs.State, cutoff time.Time) (int64, error)
	DeleteDocumentsBefore(ctx context.Context, cutoff time.Time) (int64, error)
}

// cleaner runs maintenance.cleanup: delete finished jobs and uploads
// past their retention, in small batches.
type cleaner struct {
	store     cleanupStore
	retention product.Retention
	log       *zap.Logger
}

// cleanupResult counts what one run deleted.
type cleanupResult struct {
	Scope     string           `json:"scope"`
	Jobs      map[string]int64 `json:"jobs_deleted"`
	Documents int64            `json:"documents_deleted"`
}

func (c *cleaner) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.CleanupPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	if p.Scope == "" {
		p.Scope = product.CleanupAll
	}
	now := time.Now()
	res := cleanupResult{Scope: p.Scope, Jobs: map[string]int64{}}
	if p.Scope == product.CleanupAll || p.Scope == product.CleanupRetention {
		for _, r := range []struct {
			state jobs.State
			keep  time.Duration
		}{
			{jobs.StateSucceeded, c.retention.Succeeded},
			{jobs.StateFailed, c.retention.Failed},
			{jobs.StateCancelled, c.retention.Cancelled},
		} {
			if r.keep <= 0 {
				continue // kept forever
			}
			n, err := c.store.DeleteFinishedJobs(ctx, r.state, now.Add(-r.keep))
			res.Jobs[string(r.state)] = n
			if err != nil {
				return nil, fmt.Errorf("cleanup: %w", err)
			}
		}
		_ = job.Progress(ctx, 50, "finished jobs past retention deleted")
	}
	if (p.Scope == product.CleanupAll || p.Scope == product.CleanupUploads) && c.retention.Uploads > 0 {
		n, err := c.store.DeleteDocumentsBefore(ctx, now.Add(-c.retention.Uploads))
		res.Documents = n
		if err != nil {
			return nil, fmt.Errorf("cleanup: %w", err)
		}
	}
	c.log.Info("cleanup done", hlog.JobID(job.ID.String()), zap.String("scope", p.Scope),
		zap.Any("jobs_deleted", res.Jobs), zap.Int64("documents_deleted", res.Documents))
	return res, nil
}

// reporter runs maintenance.report: the owner's usage over N days.
type reporter struct {
	store usageReader
}

// usageReader reads an owner's usage report.
type usageReader interface {
	Usage(ctx context.Context, owner uuid.UUID, days int, now time.Time) (jobstore.UsageReport, error)
}

func (r *reporter) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.ReportPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	if p.Days == 0 {
		p.Days = product.DefaultReportDays
	}
	rep, err := r.store.Usage(ctx, job.Owner, p.Days, time.Now())
	if err != nil {
		return nil, err
	}
	return rep, nil
}
