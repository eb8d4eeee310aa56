package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store"
)

// Service describes a worker service for RunService.
type Service struct {
	Config   config.Config
	Logger   *zap.Logger
	Registry *jobs.Registry
	// Register adds the service's handlers, which may use the service's
	// store; system.* are always added.
	Register func(p *Processor, st *store.Store)
	// OnListen, when set, learns the health server's bound address (useful
	// with HOPPER_METRICS_ADDR=:0 in tests).
	OnListen func(addr string)
	// HeartbeatEvery overrides Lease/3 (tests).
	HeartbeatEvery time.Duration
	// RegistryEvery overrides DefaultRegistryEvery, how often the
	// instance renews its workers row (tests).
	RegistryEvery time.Duration
}

// TopologyFor builds the AMQP topology a service declares: the standard
// queues plus any queue HOPPER_QUEUES names with its own bindings.
func TopologyFor(cfg config.Config) broker.Topology {
	topo := broker.NewTopology(cfg.AMQPPrefix, cfg.QueueType)
	for _, q := range cfg.Queues {
		if len(q.Bindings) == 0 {
			continue
		}
		replaced := false
		for i := range topo.Queues {
			if topo.Queues[i].Name == q.Name {
				topo.Queues[i].Bindings = q.Bindings
				replaced = true
			}
		}
		if !replaced {
			topo.Queues = append(topo.Queues, broker.QueueSpec{Name: q.Name, Bindings: q.Bindings})
		}
	}
	return topo
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

	m := metrics.New(cfg.Service)
	topo := TopologyFor(cfg)
	consumer := broker.NewConsumer(cfg.AMQPURL, topo, broker.ConsumerOptions{
		Queues: cfg.QueueNames(), Prefetch: cfg.Concurrency, Tag: workerID, Logger: log,
		OnReconnect:  func() { m.Reconnects.WithLabelValues("consumer").Inc() },
		PausedQueues: st.PausedQueues,
	})
	control := broker.NewControlListener(cfg.AMQPURL, topo, broker.ControlListenerOptions{Name: workerID, Logger: log})
	proc := NewProcessor(Options{
		Store: st, Registry: svc.Registry, WorkerID: workerID, Service: cfg.Service, Metrics: m,
		Concurrency: cfg.Concurrency, ShutdownGrace: cfg.ShutdownGrace, Logger: log,
		Lease: cfg.Lease, HeartbeatEvery: svc.HeartbeatEvery, Paused: consumer.IsPaused,
	})
	RegisterSystem(proc)
	if svc.Register != nil {
		svc.Register(proc, st)
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
	// On controlCtx: the row stays while in-flight jobs drain.
	g.Go(func() error {
		return (&registry{store: st, queues: consumer, inFlight: proc.InFlight, log: log, every: registryEvery,
			self: newSelf(workerID, cfg.Service, cfg.QueueNames(), cfg.Concurrency)}).Run(controlCtx)
	})
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
		zap.Strings("queues", cfg.QueueNames()), zap.Strings("kinds", proc.Kinds()))
	err = g.Wait()
	log.Info("stopped")
	return err
}

func healthHandler(st *store.Store, consumer *broker.Consumer, m *metrics.Metrics) http.Handler {
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
