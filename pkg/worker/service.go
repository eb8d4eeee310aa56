package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/catalog"
	"github.com/hopperq/hopper/pkg/clock"
	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/schedule"
	"github.com/hopperq/hopper/pkg/store"
)

// Service describes a worker service for RunService.
type Service struct {
	Config config.Config
	Logger *zap.Logger
	// Kinds are the kinds the service runs, each with its handler in
	// Handlers. At start the service publishes them to the kind catalogue
	// (so the gateways accept them), binds each to its queue, and consumes
	// those queues unless HOPPER_QUEUES names others.
	Kinds    []jobs.Kind
	Handlers map[string]HandlerFunc
	// QueueHandlers run, by queue, the kinds without a handler of their
	// own: kinds defined at run time rather than in code (push kinds an
	// admin declares). The service consumes each such queue, follows the
	// catalogue, and binds every kind of the queue it finds there,
	// however late it was published.
	QueueHandlers map[string]HandlerFunc
	// Schedules are cron schedules of the service's kinds, created at
	// start unless one of that name exists (an admin's change stands).
	Schedules []schedule.Default
	// Registry gives the backoff of kinds not in Kinds (the built-in
	// catalogue when nil).
	Registry *jobs.Registry
	// OnListen, when set, learns the health server's bound address (useful
	// with HOPPER_METRICS_ADDR=:0 in tests).
	OnListen func(addr string)
	// HeartbeatEvery overrides Lease/3 (tests).
	HeartbeatEvery time.Duration
	// RegistryEvery overrides DefaultRegistryEvery, how often the
	// instance renews its workers row (tests).
	RegistryEvery time.Duration
	// CatalogEvery overrides catalog.DefaultEvery, how often a service
	// with QueueHandlers looks for new kinds.
	CatalogEvery time.Duration
}

// TopologyFor builds the AMQP topology a service declares: each queue
// HOPPER_QUEUES names (with its own routing patterns, when it gives
// some), and each of kinds bound by its exact name to its queue. A queue
// whose patterns HOPPER_QUEUES names is left as configured: the operator
// owns its routing then (e.g. images=chat.image|chat.video).
func TopologyFor(cfg config.Config, kinds ...jobs.Kind) broker.Topology {
	topo := broker.NewTopology(cfg.AMQPPrefix, cfg.QueueType)
	explicit := map[string]bool{}
	for _, q := range cfg.Queues {
		explicit[q.Name] = len(q.Bindings) > 0
		topo.Queues = append(topo.Queues, broker.QueueSpec{Name: q.Name, Bindings: slices.Clone(q.Bindings)})
	}
	for _, k := range kinds {
		if !explicit[k.Queue] {
			topo.Bind(k.Queue, k.Name)
		}
	}
	return topo
}

// platformKinds are the system.* kinds of the queues this service
// consumes: every worker runs them, so whichever consumes their queue
// binds them.
func platformKinds(queues []string) []jobs.Kind {
	var out []jobs.Kind
	for _, k := range jobs.DefaultKinds() {
		if slices.Contains(queues, k.Queue) {
			out = append(out, k)
		}
	}
	return out
}

// consumedQueues is HOPPER_QUEUES, or when that names none, the queues of
// the service's kinds and queue handlers.
func consumedQueues(cfg config.Config, kinds []jobs.Kind, byQueue map[string]HandlerFunc) []string {
	if names := cfg.QueueNames(); len(names) > 0 {
		return names
	}
	var out []string
	for _, k := range kinds {
		if !slices.Contains(out, k.Queue) {
			out = append(out, k.Queue)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(byQueue)) {
		if !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}

// RunService runs a worker service until ctx ends: it connects to Postgres
// and RabbitMQ, consumes the configured queues, serves /healthz and
// /readyz, and drains in-flight jobs on the way out.
func RunService(ctx context.Context, svc Service) error {
	cfg, log := svc.Config, svc.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if svc.Registry == nil {
		reg, err := jobs.DefaultRegistry()
		if err != nil {
			return fmt.Errorf("kind registry: %w", err)
		}
		svc.Registry = reg
	}
	own, err := jobs.NewRegistry(svc.Kinds...)
	if err != nil {
		return fmt.Errorf("kinds: %w", err)
	}
	for _, k := range svc.Kinds {
		if svc.Handlers[k.Name] == nil {
			return fmt.Errorf("kind %s has no handler", k.Name)
		}
	}
	svc.Kinds = own.Kinds() // with their defaults filled
	for i := range svc.Kinds {
		svc.Kinds[i].Service = cfg.Service
	}
	queues := consumedQueues(cfg, svc.Kinds, svc.QueueHandlers)
	if len(queues) == 0 {
		return errors.New("HOPPER_QUEUES: a worker needs at least one queue to consume (none configured and no kind registered)")
	}
	workerID := cfg.WorkerID
	if workerID == "" {
		workerID = newWorkerID(cfg.Service)
	}
	log = log.With(zap.String("worker_id", workerID))
	log.Info("starting", cfg.LogFields()...)

	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.Concurrency + 4, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := announce(ctx, st, svc, own, log); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil // stopped before it could start
	}

	// Kinds defined at run time are looked up in the catalogue (their
	// backoff); a service with none needs only its own and the seed.
	var rest jobs.Catalog = svc.Registry
	var cat *catalog.Catalog
	if len(svc.QueueHandlers) > 0 {
		cat = catalog.New(st, svc.Registry, log, svc.CatalogEvery)
		if err := cat.Refresh(ctx); err != nil {
			log.Warn("kind catalogue not read yet", zap.Error(err))
		}
		rest = cat
	}

	m := metrics.New(cfg.Service)
	topo := TopologyFor(cfg, append(slices.Clone(svc.Kinds), platformKinds(queues)...)...)
	for q := range svc.QueueHandlers {
		if !slices.ContainsFunc(topo.Queues, func(s broker.QueueSpec) bool { return s.Name == q }) {
			topo.Queues = append(topo.Queues, broker.QueueSpec{Name: q})
		}
	}
	consumer := broker.NewConsumer(cfg.AMQPURL, topo, broker.ConsumerOptions{
		Queues: queues, Prefetch: cfg.Concurrency, Tag: workerID, Logger: log,
		OnReconnect:  func() { m.Reconnects.WithLabelValues("consumer").Inc() },
		PausedQueues: st.PausedQueues,
	})
	control := broker.NewControlListener(cfg.AMQPURL, topo, broker.ControlListenerOptions{Name: workerID, Logger: log})
	proc := NewProcessor(Options{
		Store: st, Registry: kindsFirst{own: own, rest: rest}, WorkerID: workerID, Service: cfg.Service, Metrics: m,
		Concurrency: cfg.Concurrency, ShutdownGrace: cfg.ShutdownGrace, Logger: log,
		Lease: cfg.Lease, HeartbeatEvery: svc.HeartbeatEvery, Paused: consumer.IsPaused,
		OutputMaxBytes: cfg.OutputMaxBytes, OutputFlushEvery: outputFlushEvery(cfg.OutputFlushEvery),
	})
	RegisterSystem(proc)
	for name, h := range svc.Handlers {
		proc.Handle(name, h)
	}
	for q, h := range svc.QueueHandlers {
		proc.HandleQueue(q, h)
	}

	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("HOPPER_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	if svc.OnListen != nil {
		svc.OnListen(ln.Addr().String())
	}
	health := &http.Server{Handler: healthHandler(st, consumer, m), ReadHeaderTimeout: 5 * time.Second}

	// The consumer stops with ctx (no new deliveries); the processor then
	// drains with its own grace, so it runs on a context that outlives ctx.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	consumeCtx, stopConsuming := context.WithCancel(ctx)
	defer stopConsuming()
	// Control signals keep flowing while in-flight jobs drain: a cancel
	// during shutdown must still stop its job.
	controlCtx, stopControl := context.WithCancel(context.WithoutCancel(ctx))
	defer stopControl()
	g.Go(func() error { return control.Run(controlCtx) })
	g.Go(func() error {
		// Consume only once cancel signals can reach this instance. If ctx
		// ends first, Run returns at once and closes Deliveries.
		_ = control.WaitReady(consumeCtx)
		return consumer.Run(consumeCtx)
	})
	g.Go(func() error {
		return (&controlLoop{signals: control.Signals(), proc: proc, queues: consumer, log: log}).Run(controlCtx)
	})
	registryEvery := svc.RegistryEvery
	if registryEvery <= 0 {
		registryEvery = DefaultRegistryEvery
	}
	reg := &registry{store: st, queues: consumer, inFlight: proc.InFlight, log: log, every: registryEvery,
		self: newSelf(workerID, cfg.Service, queues, cfg.Concurrency, proc.Kinds())}
	var binder *kindBinder
	if cat != nil {
		every := svc.CatalogEvery
		if every <= 0 {
			every = catalog.DefaultEvery
		}
		refresh := make(chan struct{}, 1)
		binder = &kindBinder{kinds: cat.Kinds, queues: slices.Sorted(maps.Keys(svc.QueueHandlers)),
			topo: broker.NewTopology(cfg.AMQPPrefix, cfg.QueueType), every: every, log: log, bound: map[string]bool{},
			declare: func(ctx context.Context, t broker.Topology) error {
				return broker.DeclareOnce(ctx, cfg.AMQPURL, workerID+".bind", t)
			},
			onBound: func() {
				select {
				case refresh <- struct{}{}:
				default:
				}
			}}
		// The kinds of its queues, as they are declared, count as this
		// instance's (GET /v1/kinds/{name}'s workers).
		reg.kinds, reg.refresh = binder.Bound, refresh
	}
	// On controlCtx: the row stays while in-flight jobs drain.
	g.Go(func() error { return reg.Run(controlCtx) })
	g.Go(func() error {
		defer stopConsuming()
		err := proc.Run(consumeCtx, consumer.Deliveries())
		stopControl()
		// Health server goes last, so probes see the drain.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = health.Shutdown(shutdownCtx)
		return err
	})
	if cfg.PprofAddr != "" {
		g.Go(func() error { return httpx.ServePprof(controlCtx, cfg.PprofAddr) })
	}
	if cat != nil {
		g.Go(func() error { return cat.Run(consumeCtx) })
		g.Go(func() error { return binder.Run(consumeCtx) })
	}
	g.Go(func() error {
		if err := health.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("health server: %w", err)
		}
		return nil
	})
	go func() {
		// A failure of one part stops the others.
		<-gctx.Done()
		stopConsuming()
		stopControl()
	}()
	log.Info("worker ready", zap.String("health_addr", ln.Addr().String()),
		zap.Strings("queues", queues), zap.Strings("kinds", proc.Kinds()))
	err = g.Wait()
	log.Info("stopped")
	return err
}

// announce publishes the service's kinds to the catalogue and creates its
// schedules before it consumes anything. A database that cannot take
// them yet — the gateway has not migrated it (a worker may start first
// in a fresh deployment), or it is briefly unreachable — is retried with
// capped backoff rather than ending the service.
func announce(ctx context.Context, st *store.Store, svc Service, own *jobs.Registry, log *zap.Logger) error {
	if len(svc.Kinds) == 0 && len(svc.Schedules) == 0 {
		return nil
	}
	wait := 200 * time.Millisecond
	for {
		err := st.PublishKinds(ctx, svc.Kinds)
		if err == nil && len(svc.Schedules) > 0 {
			err = st.EnsureSchedules(ctx, svc.Schedules, own, time.Now())
		}
		if err == nil {
			log.Info("kinds published to the catalogue", zap.Strings("kinds", own.Names()))
			return nil
		}
		log.Warn("kinds not published yet; retrying (has the gateway migrated the database?)",
			zap.Duration("retry_in", wait), zap.Error(err))
		if clock.Sleep(ctx, wait) != nil {
			return nil
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// kindsFirst looks a kind up among the service's own kinds, then rest.
type kindsFirst struct {
	own  *jobs.Registry
	rest jobs.Catalog
}

func (c kindsFirst) Lookup(name string) (jobs.Kind, bool) {
	if k, ok := c.own.Lookup(name); ok {
		return k, true
	}
	return c.rest.Lookup(name)
}

func (c kindsFirst) Names() []string {
	return append(c.own.Names(), c.rest.Names()...)
}

func healthHandler(st pinger, consumer *broker.Consumer, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		pgOK := st.Ping(ctx) == nil
		amqpOK := consumer.Ready()
		body := fmt.Sprintf(`{"status":%q,"postgres":%t,"rabbitmq":%t}`, readiness(pgOK && amqpOK), pgOK, amqpOK)
		if pgOK && amqpOK {
			writeStatus(w, http.StatusOK, body)
			return
		}
		writeStatus(w, http.StatusServiceUnavailable, body)
	})
	return mux
}

func readiness(ok bool) string {
	if ok {
		return "ready"
	}
	return "unavailable"
}

func writeStatus(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func newWorkerID(service string) string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s@%s-%d-%s", service, host, os.Getpid(), hex.EncodeToString(b))
}

// outputFlushEvery maps HOPPER_OUTPUT_FLUSH_EVERY (0: every chunk at
// once) to the processor's option (its zero is the default).
func outputFlushEvery(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}
