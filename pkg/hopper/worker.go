package hopper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/schedule"
	"github.com/hopperq/hopper/pkg/worker"
)

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Service names the worker service (a DNS label, e.g. "leaderboard");
	// it is the AMQP app id, the metrics' service label and the
	// catalogue's owner of the kinds. Required unless Config is set.
	Service string
	// Config, when set, is used as is; otherwise the HOPPER_* environment
	// variables are read (the same ones the built-in workers read:
	// HOPPER_DATABASE_URL, HOPPER_AMQP_URL, HOPPER_AMQP_PREFIX,
	// HOPPER_CONCURRENCY, HOPPER_METRICS_ADDR, HOPPER_QUEUES, …).
	Config *config.Config
	// Logger, when nil, is built from HOPPER_ENV and HOPPER_LOG_LEVEL.
	Logger *zap.Logger
	// OnListen learns the health server's address (HOPPER_METRICS_ADDR
	// defaults to a free loopback port for services other than the
	// built-in ones).
	OnListen func(addr string)
}

// Worker runs the handlers of a worker service. Register handlers with
// Handle, HandleKind or HandleFunc, then call Run.
type Worker struct {
	cfg       config.Config
	log       *zap.Logger
	onListen  func(string)
	kinds     []jobs.Kind
	handlers  map[string]HandlerFunc
	byQueue   map[string]HandlerFunc
	schedules []schedule.Default
	// errs collects registration mistakes; Run returns them, so a
	// service cannot start half-registered.
	errs []error
}

// NewWorker builds a Worker from cfg; a bad HOPPER_* variable is an error
// naming it.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	var c config.Config
	switch {
	case cfg.Config != nil:
		c = *cfg.Config
	case cfg.Service == "":
		return nil, errors.New("hopper: WorkerConfig.Service is required")
	default:
		var err error
		if c, err = config.Load(cfg.Service, os.Getenv); err != nil {
			return nil, err
		}
	}
	log := cfg.Logger
	if log == nil {
		var err error
		if log, err = hlog.New(c.Service, c.Env, c.LogLevel); err != nil {
			return nil, err
		}
	}
	return &Worker{cfg: c, log: log, onListen: cfg.OnListen, handlers: map[string]HandlerFunc{},
		byQueue: map[string]HandlerFunc{}}, nil
}

// Handle registers fn for the kind T names (River-style): T's Kind()
// gives the definition, the payload is decoded into Job.Args, and the
// returned R is the job's result. Unless the KindSpec has a Schema, it is
// derived from T (SchemaFor).
func Handle[T Args, R any](w *Worker, fn func(ctx context.Context, job *Job[T]) (R, error)) {
	var zero T
	HandleKind(w, zero.Kind(), fn)
}

// HandleKind is Handle for a payload type that does not name its kind.
func HandleKind[T, R any](w *Worker, spec KindSpec, fn func(ctx context.Context, job *Job[T]) (R, error)) {
	if len(spec.Schema) == 0 {
		schema, err := SchemaFor[T]()
		if err != nil {
			w.errs = append(w.errs, fmt.Errorf("kind %s: %w", spec.Name, err))
			return
		}
		spec.Schema = schema
	}
	w.HandleKind(spec, typed(fn))
}

// HandleKind registers a raw handler for the kind spec defines.
func (w *Worker) HandleKind(spec KindSpec, fn HandlerFunc) {
	k, err := spec.kind(w.cfg.Service)
	switch {
	case err != nil:
		w.errs = append(w.errs, err)
		return
	case fn == nil:
		w.errs = append(w.errs, fmt.Errorf("kind %s: nil handler", k.Name))
		return
	case w.handlers[k.Name] != nil:
		w.errs = append(w.errs, fmt.Errorf("kind %s registered twice", k.Name))
		return
	}
	w.kinds = append(w.kinds, k)
	w.handlers[k.Name] = fn
}

// HandleFunc registers a raw handler for the kind name with the default
// definition (asynq-style).
func (w *Worker) HandleFunc(name string, fn HandlerFunc) {
	w.HandleKind(KindSpec{Name: name}, fn)
}

// HandleQueue registers fn for every kind of queue that has no handler of
// its own on this worker: kinds defined at run time rather than in code —
// an admin declaring them, a table of tenants' endpoints — as Hopper's
// push worker serves the push kinds admins declare. The worker consumes
// queue, reads the kind catalogue every second, and binds each kind of
// queue it finds there to it, so a kind published after the worker
// started is run without a restart; its backoff comes from its catalogue
// definition. The handler tells kinds apart by job.Kind.
func (w *Worker) HandleQueue(queue string, fn HandlerFunc) {
	switch {
	case queue == "":
		w.errs = append(w.errs, errors.New("HandleQueue: empty queue name"))
	case fn == nil:
		w.errs = append(w.errs, fmt.Errorf("queue %s: nil handler", queue))
	case w.byQueue[queue] != nil:
		w.errs = append(w.errs, fmt.Errorf("queue %s handled twice", queue))
	default:
		w.byQueue[queue] = fn
	}
}

// Schedule is a cron schedule of one of the worker's kinds.
type Schedule struct {
	// Name identifies it (lower-case letters, digits, '-' and '_').
	Name string
	// Spec is a cron expression ("0 2 * * *", "@hourly", "@every 10m").
	Spec string
	// Timezone the spec is read in (IANA name; default UTC).
	Timezone string
	// Kind must be registered on this worker.
	Kind    string
	Payload any
}

// Schedule creates s when the worker starts, unless a schedule of that
// name exists: an admin may have changed or disabled it, and that
// stands. The dispatcher's leader then creates one job per tick, exactly
// once however many gateways run (River's periodic jobs, asynq's
// scheduler).
func (w *Worker) Schedule(s Schedule) {
	if err := schedule.ValidName(s.Name); err != nil {
		w.errs = append(w.errs, fmt.Errorf("schedule %q: %w", s.Name, err))
		return
	}
	if _, err := schedule.Parse(s.Spec, s.Timezone); err != nil {
		w.errs = append(w.errs, fmt.Errorf("schedule %s: %w", s.Name, err))
		return
	}
	if w.handlers[s.Kind] == nil {
		w.errs = append(w.errs, fmt.Errorf("schedule %s: kind %q is not registered on this worker (register it first)", s.Name, s.Kind))
		return
	}
	payload := json.RawMessage(`{}`)
	if s.Payload != nil {
		b, err := json.Marshal(s.Payload)
		if err != nil {
			w.errs = append(w.errs, fmt.Errorf("schedule %s: payload: %w", s.Name, err))
			return
		}
		payload = b
	}
	tz := s.Timezone
	if tz == "" {
		tz = "UTC"
	}
	w.schedules = append(w.schedules, schedule.Default{Name: s.Name, Spec: s.Spec, Timezone: tz, Kind: s.Kind, Payload: payload})
}

// Kinds lists the registered kind names.
func (w *Worker) Kinds() []string {
	out := make([]string, len(w.kinds))
	for i, k := range w.kinds {
		out[i] = k.Name
	}
	return out
}

// Logger is the worker's logger.
func (w *Worker) Logger() *zap.Logger { return w.log }

// Config is the worker's effective configuration.
func (w *Worker) Config() config.Config { return w.cfg }

// Run publishes the kinds to the catalogue, declares their queues and
// bindings, and runs jobs until ctx ends; then it stops consuming and
// lets running jobs finish within HOPPER_SHUTDOWN_GRACE before releasing
// them to another instance. A registration mistake is returned at once.
func (w *Worker) Run(ctx context.Context) error {
	if err := errors.Join(w.errs...); err != nil {
		return fmt.Errorf("hopper: %w", err)
	}
	return worker.RunService(ctx, worker.Service{Config: w.cfg, Logger: w.log, OnListen: w.onListen,
		Kinds: w.kinds, Handlers: w.handlers, QueueHandlers: w.byQueue, Schedules: w.schedules})
}
