package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// Broker is what publishing asks of RabbitMQ (*broker.Publisher).
type Broker interface {
	PublishAsync(ctx context.Context, m broker.Message) (*broker.Confirm, error)
}

// JobPublisher is the one way a job's envelope goes to RabbitMQ and the
// job leaves the outbox: the gateway's submits, the dispatcher's due,
// released, outbox, cron and follow-up jobs, and the transactionally
// enqueued ones all publish through it. What differs between them is
// only how a confirmed publish is marked (Mark) and whether the caller
// waits for the confirms.
type JobPublisher struct {
	Broker Broker
	// Mark records the confirmed publishes: Store.MarkPublished at once,
	// or a PublishedMarker's MarkAll, late and only while unclaimed. A
	// mark that fails leaves the job in the outbox, published again and
	// dropped by the claim as a duplicate.
	Mark    func(ctx context.Context, ids ...uuid.UUID) error
	Metrics *metrics.Metrics
	Logger  *zap.Logger
	// Timeout bounds the publishes of one call, from the first write to
	// the mark; 0 leaves that to ctx.
	Timeout time.Duration
}

// sent is one envelope written, its confirm pending.
type sent struct {
	job     jobstore.Job
	started time.Time
	confirm *broker.Confirm
}

// Publish sends the envelopes of the jobs of list that are queued and
// admitted (a scheduled job waits to come due, a held one for its owner's
// fairness cap), in list's order, each as soon as the publisher's confirm
// window has room, and returns once all are written. The confirms are
// awaited and the confirmed jobs marked in one call of Mark behind the
// caller's back; wait blocks until that is done and says how many were
// confirmed. A job whose publish fails is logged and stays in the outbox.
func (p *JobPublisher) Publish(ctx context.Context, list []jobstore.Job) (wait func() int) {
	cancel := context.CancelFunc(func() {})
	if p.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
	}
	pending := make([]sent, 0, len(list))
	for _, j := range list {
		if j.State != jobs.StateQueued || j.Held {
			continue
		}
		started := time.Now()
		c, err := p.Broker.PublishAsync(ctx, MessageFor(j))
		if err != nil {
			p.failed(j, started, err)
			continue
		}
		pending = append(pending, sent{job: j, started: started, confirm: c})
	}
	if len(pending) == 0 {
		cancel()
		return func() int { return 0 }
	}
	done := make(chan int, 1)
	go func() {
		defer cancel()
		done <- p.confirmAndMark(ctx, pending)
	}()
	return sync.OnceValue(func() int { return <-done })
}

// confirmAndMark waits for each pending confirm and marks the confirmed
// jobs in one call; it returns how many were confirmed.
func (p *JobPublisher) confirmAndMark(ctx context.Context, pending []sent) int {
	confirmed := make([]uuid.UUID, 0, len(pending))
	for _, s := range pending {
		if err := s.confirm.Wait(ctx); err != nil {
			p.failed(s.job, s.started, err)
			continue
		}
		p.Metrics.ObservePublish(s.started, nil)
		confirmed = append(confirmed, s.job.ID)
	}
	if len(confirmed) == 0 {
		return 0
	}
	if err := p.Mark(ctx, confirmed...); err != nil {
		p.Logger.Warn("mark published failed; jobs may be published twice (claims drop duplicates)",
			zap.Int("jobs", len(confirmed)), zap.Error(err))
	}
	return len(confirmed)
}

// failed records a publish that was not confirmed.
func (p *JobPublisher) failed(j jobstore.Job, started time.Time, err error) {
	p.Metrics.ObservePublish(started, err)
	p.Logger.Warn("publish failed; left in the outbox", hlog.JobID(j.ID.String()), hlog.Kind(j.Kind), zap.Error(err))
}

// MessageFor builds the AMQP message announcing job's next attempt.
func MessageFor(job jobstore.Job) broker.Message {
	return broker.Message{
		JobID: job.ID.String(), Attempt: job.Attempt + 1, Kind: job.Kind,
		Priority: uint8(job.Priority), Owner: job.OwnerID.String(), Timestamp: time.Now(),
	}
}
