package worker

import (
	"context"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// DefaultRegistryEvery is how often an instance renews its registry row
// (and re-reads the paused queues) when Service.RegistryEvery is unset.
// Readers list instances seen within a few of these periods.
const DefaultRegistryEvery = 5 * time.Second

// registryWriteTimeout bounds one registry write, so a stuck database
// delays the next beat rather than stopping the loop.
const registryWriteTimeout = 5 * time.Second

// pausable is the consumer as the registry sees it.
type pausable interface {
	SetPaused(queues []string) error
	Paused() []string
}

// registry keeps this instance's row in the workers table: inserted at
// start, renewed every few seconds with the jobs in flight and the queues
// paused, deleted on clean shutdown. A crashed instance stops renewing and
// drops out of GET /v1/workers once its row is old.
//
// Each beat also makes the consumer's paused queues match Postgres, which
// makes up for a pause or resume signal this instance missed (e.g. while
// its control listener reconnected). A signal racing a beat can be undone
// by it for at most one period, until the next beat reads the new state.
type registry struct {
	store    registryStore
	queues   pausable
	inFlight func() int
	// self holds the fields that do not change while the instance runs.
	self jobstore.Worker
	// kinds, when set, adds the kinds the instance has taken on since it
	// started (a queue handler's kinds, bound as they are declared);
	// refresh beats at once when they change, so the catalogue counts
	// the instance for a new kind without waiting for the next period.
	kinds   func() []string
	refresh <-chan struct{}
	every   time.Duration
	log     *zap.Logger
}

// newSelf describes this process for its registry row.
func newSelf(id, service string, queues []string, concurrency int, kinds []string) jobstore.Worker {
	host, _ := os.Hostname()
	return jobstore.Worker{ID: id, Service: service, Host: host, PID: os.Getpid(),
		Queues: append([]string(nil), queues...), Concurrency: concurrency, StartedAt: time.Now(),
		Kinds: slices.Sorted(slices.Values(kinds))}
}

// Run beats at once, then every r.every until ctx ends, then deletes the
// row. Database errors are logged and retried at the next beat.
func (r *registry) Run(ctx context.Context) error {
	r.beat(ctx)
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.remove(context.WithoutCancel(ctx))
			return nil
		case <-t.C:
			r.beat(ctx)
		case <-r.refresh:
			r.beat(ctx)
		}
	}
}

func (r *registry) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, registryWriteTimeout)
	defer cancel()
	paused, err := r.store.PausedQueues(ctx)
	if err != nil {
		r.log.Warn("registry: could not read paused queues", zap.Error(err))
	} else if err := r.queues.SetPaused(paused); err != nil {
		r.log.Warn("registry: could not apply paused queues", zap.Strings("paused", paused), zap.Error(err))
	}
	w := r.self
	w.InFlight = r.inFlight()
	w.PausedQueues = r.queues.Paused()
	if r.kinds != nil {
		w.Kinds = slices.Sorted(slices.Values(slices.Concat(w.Kinds, r.kinds())))
		w.Kinds = slices.Compact(w.Kinds)
	}
	if err := r.store.UpsertWorker(ctx, w); err != nil {
		r.log.Warn("registry: heartbeat not recorded", zap.Error(err))
	}
}

func (r *registry) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, registryWriteTimeout)
	defer cancel()
	if err := r.store.DeleteWorker(ctx, r.self.ID); err != nil {
		r.log.Warn("registry: could not remove this instance's row; it ages out", zap.Error(err))
	}
}
