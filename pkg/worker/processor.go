package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/clock"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// Why a handler's context ended early.
var (
	errCancelRequested = errors.New("job cancelled")
	errLeaseLost       = errors.New("lease lost")
	errShutdown        = errors.New("worker shutting down")
)

// Options configure a Processor.
type Options struct {
	Store Store
	// Registry gives each kind's backoff; a kind it lacks backs off 1s–1m.
	Registry    jobs.Catalog
	WorkerID    string
	Service     string
	Concurrency int
	// Lease is how long a claim owns a job without renewal (default 30s);
	// the heartbeat renews it every Lease/3.
	Lease time.Duration
	// HeartbeatEvery overrides Lease/3.
	HeartbeatEvery time.Duration
	// ProgressThrottle is the least time between two progress writes of one
	// job (default 250ms).
	ProgressThrottle time.Duration
	// OutputFlushEvery is the longest an output chunk waits to be
	// written with the next ones (default DefaultOutputFlushEvery).
	OutputFlushEvery time.Duration
	// OutputMaxBytes bounds one attempt's output (default
	// jobstore.DefaultOutputMaxBytes).
	OutputMaxBytes int64
	// ShutdownGrace is how long in-flight jobs may finish after Run's
	// context ends before they are released to another worker.
	ShutdownGrace time.Duration
	Logger        *zap.Logger
	// Metrics receives job counters and histograms; nil builds a private
	// set nobody scrapes.
	Metrics *metrics.Metrics
	// Paused reports whether a queue is paused (the consumer's IsPaused);
	// nil means never.
	Paused func(queue string) bool
}

// Processor runs jobs from deliveries with bounded concurrency.
type Processor struct {
	opts     Options
	log      *zap.Logger
	handlers map[string]HandlerFunc
	// byQueue runs the kinds without a handler of their own, by queue.
	byQueue  map[string]HandlerFunc
	inFlight sync.WaitGroup

	mu      sync.Mutex
	running map[uuid.UUID]context.CancelCauseFunc // job id → its attempt's cancel

	waitingNow atomic.Int64 // deliveries received, waiting for a slot

	// finishing bounds the outcomes being written after their slot was
	// handed on (see run): one per slot.
	finishing chan struct{}
}

// NewProcessor returns a Processor; register handlers before Run.
func NewProcessor(opts Options) *Processor {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.HeartbeatEvery <= 0 {
		opts.HeartbeatEvery = opts.Lease / 3
	}
	if opts.ProgressThrottle <= 0 {
		opts.ProgressThrottle = 250 * time.Millisecond
	}
	if opts.OutputFlushEvery <= 0 {
		opts.OutputFlushEvery = DefaultOutputFlushEvery
	}
	if opts.OutputMaxBytes <= 0 {
		opts.OutputMaxBytes = jobstore.DefaultOutputMaxBytes
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New(opts.Service)
	}
	return &Processor{opts: opts, log: opts.Logger, handlers: map[string]HandlerFunc{}, byQueue: map[string]HandlerFunc{},
		running: map[uuid.UUID]context.CancelCauseFunc{}, finishing: make(chan struct{}, opts.Concurrency)}
}

// Handle registers h for kind.
func (p *Processor) Handle(kind string, h HandlerFunc) {
	p.handlers[kind] = h
}

// HandleQueue registers h for every kind delivered on queue that has no
// handler of its own.
func (p *Processor) HandleQueue(queue string, h HandlerFunc) {
	p.byQueue[queue] = h
}

// Kinds lists the kinds with a handler.
func (p *Processor) Kinds() []string {
	out := make([]string, 0, len(p.handlers))
	for k := range p.handlers {
		out = append(out, k)
	}
	return out
}

// Run takes deliveries while ctx lives and runs at most Concurrency jobs
// at once. Deliveries received while every slot is busy wait in the
// processor, and a freed slot takes the highest-priority one, so the
// prefetch buffer never puts low-priority jobs ahead of a high one; the
// rest stay in the broker, in priority order. A waiting delivery of a
// queue paused meanwhile goes back to the queue. When ctx ends it stops
// receiving, returns the waiting deliveries, lets in-flight jobs finish
// within the shutdown grace, then releases the rest back to the queue
// uncharged.
func (p *Processor) Run(ctx context.Context, deliveries <-chan broker.Delivery) error {
	jobCtx, stopJobs := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopJobs(errShutdown)
	var (
		queued waiting
		free   = p.opts.Concurrency
		// Buffered for every slot: a job ending after Run returned never
		// blocks on it.
		slotFreed = make(chan struct{}, p.opts.Concurrency)
	)
	for {
		for free > 0 && queued.len() > 0 {
			d := queued.pop()
			if p.opts.Paused != nil && p.opts.Paused(d.Queue) {
				_ = d.Nack(false, true)
				continue
			}
			free--
			p.inFlight.Add(1)
			go func() {
				defer p.inFlight.Done()
				var once sync.Once
				freeSlot := func() { once.Do(func() { slotFreed <- struct{}{} }) }
				defer freeSlot()
				p.process(jobCtx, d, freeSlot)
			}()
		}
		p.waitingNow.Store(int64(queued.len()))
		select {
		case d, ok := <-deliveries:
			if !ok {
				p.giveBack(&queued)
				return p.drain(stopJobs)
			}
			queued.push(d)
		case <-slotFreed:
			free++
		case <-ctx.Done():
			p.giveBack(&queued)
			return p.drain(stopJobs)
		}
	}
}

// giveBack returns deliveries that never started to their queue.
func (p *Processor) giveBack(queued *waiting) {
	for queued.len() > 0 {
		d := queued.pop()
		_ = d.Nack(false, true)
	}
}

// drain waits for in-flight jobs for the shutdown grace, then cancels them
// so they release their jobs.
func (p *Processor) drain(stopJobs context.CancelCauseFunc) error {
	done := make(chan struct{})
	go func() {
		p.inFlight.Wait()
		close(done)
	}()
	timer := time.NewTimer(p.opts.ShutdownGrace)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
		p.log.Info("shutdown grace over, releasing in-flight jobs", zap.Duration("grace", p.opts.ShutdownGrace))
		stopJobs(errShutdown)
		<-done
		return nil
	}
}

// process handles one delivery: decode, claim, ack, run, finish.
// freeSlot hands the delivery's slot on to the next one; process may call
// it before it returns (see run).
func (p *Processor) process(ctx context.Context, d broker.Delivery, freeSlot func()) {
	env, err := broker.DecodeEnvelope(d.Body)
	var id uuid.UUID
	if err == nil {
		id, err = uuid.Parse(env.JobID)
	}
	if err != nil {
		// A message nobody can decode goes to the dead-letter queue, where
		// an operator can read it in the management UI; it never loops.
		p.log.Warn("poison message rejected to dead-letter queue",
			zap.String("queue", d.Queue), zap.String("message_id", d.MessageId), zap.Error(err))
		_ = d.Nack(false, false)
		return
	}

	claim := p.opts.Store.Claim
	if jobs.Priority(d.Priority).Urgent() {
		claim = p.opts.Store.ClaimUrgent
	}
	job, err := claim(ctx, id, p.opts.WorkerID, p.opts.Lease)
	if errors.Is(err, jobstore.ErrNotClaimed) {
		p.dropUnclaimed(ctx, d, id)
		return
	}
	if err != nil {
		p.log.Error("claim failed, returning delivery to the queue", hlog.JobID(env.JobID), zap.Error(err))
		_ = clock.Sleep(ctx, time.Second)
		_ = d.Nack(false, true)
		return
	}
	// From here the lease in Postgres owns the job, not the delivery.
	if err := d.Ack(false); err != nil {
		p.log.Warn("ack after claim failed; the redelivery will be dropped as stale", hlog.JobID(env.JobID), zap.Error(err))
	}
	if job.StartedAt != nil {
		p.opts.Metrics.JobQueueWait.WithLabelValues(job.Kind, metrics.PriorityLabel(job.Priority)).
			Observe(max(0, job.StartedAt.Sub(job.RunAt).Seconds()))
	}
	p.run(ctx, job, freeSlot)
}

// dropUnclaimed settles a delivery whose job could not be claimed: usually
// a stale copy (done, cancelled, or owned by another worker), acked and
// dropped; a delivery naming no job at all is dead-lettered.
func (p *Processor) dropUnclaimed(ctx context.Context, d broker.Delivery, id uuid.UUID) {
	_, err := p.opts.Store.GetJob(ctx, nil, id)
	if errors.Is(err, pg.ErrNotFound) {
		p.log.Warn("delivery names no job; rejected to dead-letter queue",
			hlog.JobID(id.String()), zap.String("queue", d.Queue))
		_ = d.Nack(false, false)
		return
	}
	p.log.Debug("stale delivery dropped", hlog.JobID(id.String()))
	_ = d.Ack(false)
}

// run executes one claimed attempt and records its outcome. The slot is
// handed on as soon as the handler returns, while the outcome is written
// (as River's completer does): a short job's slot no longer waits for a
// commit, and the write joins a batch with other slots' outcomes. At most
// one outcome per slot is written that way; beyond that, a slot is kept
// until its outcome is written, so a slow database holds the worker back
// instead of piling up outcomes. A worker that dies before the write
// lands leaves the job to its lease, as one dying inside the handler does.
func (p *Processor) run(ctx context.Context, sj jobstore.Job, freeSlot func()) {
	log := p.log.With(hlog.JobID(sj.ID.String()), hlog.Kind(sj.Kind), hlog.Attempt(sj.Attempt))
	outcome, took := p.execute(ctx, sj, log)
	select {
	case p.finishing <- struct{}{}:
		defer func() { <-p.finishing }()
		freeSlot()
	default:
	}
	// The outcome write must land even when the worker is shutting down.
	writeCtx, cancelWrite := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancelWrite()
	if outcome.detach > 0 {
		p.detach(writeCtx, log, sj, outcome.detach)
		return
	}
	if _, err := p.opts.Store.Finish(writeCtx, outcome.Outcome); err != nil {
		if errors.Is(err, jobstore.ErrLeaseLost) {
			log.Warn("lease lost before finish; outcome discarded", zap.String("state", string(outcome.State)))
			return
		}
		// The lease will expire and the reaper retries the job.
		log.Error("finish write failed", zap.Error(err))
		return
	}
	p.logOutcome(log, outcome.Outcome, took)
	p.countOutcome(sj.Kind, outcome.Outcome)
}

// detach leaves a running attempt to whoever finishes it outside the
// worker (Detach): one lease extension, no outcome.
func (p *Processor) detach(ctx context.Context, log *zap.Logger, sj jobstore.Job, lease time.Duration) {
	if _, err := p.opts.Store.Heartbeat(ctx, sj.ID, sj.Attempt, p.opts.WorkerID, lease); err != nil {
		// Lost or not extended: the lease in place decides, as for a crash.
		log.Warn("detached job's lease not extended", zap.Error(err))
		return
	}
	log.Info("task_detached", zap.Duration("lease", lease))
	p.opts.Metrics.JobsFinished.WithLabelValues(sj.Kind, "detached").Inc()
}

// attemptEnd is how an attempt ended: an outcome to write, or a detach
// (the lease to leave it under).
type attemptEnd struct {
	jobstore.Outcome
	detach time.Duration
}

// execute runs the handler of one claimed attempt, renewing its lease
// meanwhile, and decides the attempt's outcome.
func (p *Processor) execute(ctx context.Context, sj jobstore.Job, log *zap.Logger) (attemptEnd, time.Duration) {
	timeout := sj.Timeout()
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	p.track(sj.ID, cancelRun)
	defer p.untrack(sj.ID)
	p.opts.Metrics.InFlight.Inc()
	defer p.opts.Metrics.InFlight.Dec()
	deadlineCtx, cancelDeadline := context.WithTimeout(runCtx, timeout)
	defer cancelDeadline()

	reporter := &progressReporter{
		store: p.opts.Store, jobID: sj.ID, attempt: sj.Attempt, workerID: p.opts.WorkerID,
		lease: p.opts.Lease, throttle: p.opts.ProgressThrottle,
		onSignal: func(cancelRequested bool, err error) {
			switch {
			case errors.Is(err, jobstore.ErrLeaseLost):
				cancelRun(errLeaseLost)
			case cancelRequested:
				cancelRun(errCancelRequested)
			}
		},
	}
	stopHeartbeat := (&heartbeat{reporter: reporter, every: p.opts.HeartbeatEvery}).start(runCtx)

	output := &outputWriter{store: p.opts.Store, jobID: sj.ID, attempt: sj.Attempt, workerID: p.opts.WorkerID,
		every: p.opts.OutputFlushEvery, maxBytes: p.opts.OutputMaxBytes, onSignal: reporter.onSignal, ctx: runCtx}
	job := &Job{ID: sj.ID, Kind: sj.Kind, Queue: sj.Queue, Attempt: sj.Attempt, MaxAttempts: sj.MaxAttempts,
		Owner: sj.OwnerID, Payload: sj.Payload, reporter: reporter, output: output, log: log, artifacts: p.opts.Store,
		parents: p.opts.Store}
	if sj.WorkflowID != nil && sj.WorkflowStep != nil {
		job.Workflow = &WorkflowStep{ID: *sj.WorkflowID, Step: *sj.WorkflowStep, Element: sj.WorkflowElement}
	}
	started := time.Now()
	log.Info("task_started", zap.String("worker_id", p.opts.WorkerID))
	result, runErr := p.invoke(deadlineCtx, job)
	// The output lands before the outcome: a client seeing the job end
	// reads all of it.
	flushCtx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	if err := output.close(flushCtx); err != nil && !errors.Is(err, jobstore.ErrOutputLimit) {
		log.Warn("output not written", zap.Error(err))
	}
	cancelFlush()
	took := time.Since(started)
	p.opts.Metrics.JobRunSeconds.WithLabelValues(sj.Kind).Observe(took.Seconds())
	stopHeartbeat()
	if lease, ok := detachedFor(runErr); ok && context.Cause(runCtx) == nil {
		return attemptEnd{detach: lease}, took
	}
	return attemptEnd{Outcome: p.outcome(sj, result, runErr, context.Cause(runCtx), deadlineCtx.Err(), timeout)}, took
}

func (p *Processor) countOutcome(kind string, o jobstore.Outcome) {
	label := string(o.State)
	switch {
	case o.State == jobs.StateQueued:
		label = "released"
	case o.Snooze:
		label = "snoozed"
	}
	p.opts.Metrics.JobsFinished.WithLabelValues(kind, label).Inc()
	if o.State == jobs.StateRetrying && !o.Snooze {
		p.opts.Metrics.JobRetries.WithLabelValues(kind).Inc()
	}
}

func (p *Processor) track(id uuid.UUID, cancel context.CancelCauseFunc) {
	p.mu.Lock()
	p.running[id] = cancel
	p.mu.Unlock()
}

func (p *Processor) untrack(id uuid.UUID) {
	p.mu.Lock()
	delete(p.running, id)
	p.mu.Unlock()
}

// CancelRunning ends the handler context of job id if this processor runs
// it, and reports whether it did. The job then finishes as cancelled.
func (p *Processor) CancelRunning(id uuid.UUID) bool {
	p.mu.Lock()
	cancel, ok := p.running[id]
	p.mu.Unlock()
	if ok {
		cancel(errCancelRequested)
	}
	return ok
}

// Waiting is the number of deliveries received and waiting for a slot.
func (p *Processor) Waiting() int {
	return int(p.waitingNow.Load())
}

// InFlight is the number of jobs running now.
func (p *Processor) InFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.running)
}

// invoke calls the handler, turning a panic into an error.
func (p *Processor) invoke(ctx context.Context, job *Job) (result json.RawMessage, err error) {
	h, ok := p.handlers[job.Kind]
	if !ok {
		h, ok = p.byQueue[job.Queue]
	}
	if !ok {
		return nil, Permanentf("no handler for kind %s in %s", job.Kind, p.opts.Service)
	}
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("handler panicked", hlog.JobID(job.ID.String()), hlog.Kind(job.Kind),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			result, err = nil, fmt.Errorf("handler panicked: %v", r)
		}
	}()
	out, err := h(ctx, job)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, nil
	}
	if raw, ok := out.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, Permanentf("encode result: %v", err)
	}
	return b, nil
}

// outcome decides the attempt's final state.
func (p *Processor) outcome(sj jobstore.Job, result json.RawMessage, runErr, cause, deadlineErr error, timeout time.Duration) jobstore.Outcome {
	o := jobstore.Outcome{JobID: sj.ID, Attempt: sj.Attempt, WorkerID: p.opts.WorkerID, Workflow: sj.WorkflowID != nil}
	switch {
	case runErr == nil:
		o.State, o.Result = jobs.StateSucceeded, result
		return o
	case errors.Is(cause, errCancelRequested):
		o.State, o.Message = jobs.StateCancelled, "cancelled while running: "+runErr.Error()
		o.Error = o.Message
		return o
	case errors.Is(cause, errShutdown):
		o.State, o.Message = jobs.StateQueued, "released: "+errShutdown.Error()
		return o
	}
	if until, ok := snoozedUntil(runErr); ok && deadlineErr == nil {
		o.State, o.RetryAt, o.Snooze = jobs.StateRetrying, until, true
		o.Message = runErr.Error()
		return o
	}
	errText := runErr.Error()
	if errors.Is(deadlineErr, context.DeadlineExceeded) {
		errText = fmt.Sprintf("timed out after %s: %v", timeout, runErr)
	}
	o.Error = errText
	if IsPermanent(runErr) || sj.Attempt >= sj.MaxAttempts {
		o.State = jobs.StateFailed
		return o
	}
	var kind jobs.Kind
	ok := false
	if p.opts.Registry != nil {
		kind, ok = p.opts.Registry.Lookup(sj.Kind)
	}
	if !ok {
		kind = jobs.Kind{BackoffBase: time.Second, BackoffCap: time.Minute}
	}
	o.State = jobs.StateRetrying
	wait := jobs.Backoff(kind, sj.Attempt, rand.Float64())
	if after, ok := retryAfter(runErr); ok {
		wait = max(wait, min(after, kind.BackoffCap))
	}
	o.RetryAt = time.Now().Add(wait)
	return o
}

func (p *Processor) logOutcome(log *zap.Logger, o jobstore.Outcome, took time.Duration) {
	switch o.State {
	case jobs.StateSucceeded:
		log.Info("task_completed", zap.Duration("took", took))
	case jobs.StateRetrying:
		if o.Snooze {
			log.Info("task_snoozed", zap.Time("until", o.RetryAt))
			return
		}
		log.Warn("task_retrying", zap.String("error", o.Error), zap.Time("retry_at", o.RetryAt))
	case jobs.StateFailed:
		log.Warn("task_failed", zap.String("error", o.Error), zap.Duration("took", took))
	case jobs.StateCancelled:
		log.Info("task_cancelled", zap.Duration("took", took))
	case jobs.StateQueued:
		log.Info("task_released")
	}
}
