// Package app runs the gateway: it migrates the database, serves the HTTP
// API, keeps a publisher connection to RabbitMQ, and takes part in the
// dispatcher's leader election.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/catalog"
	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/push"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/services/gateway/internal/api"
)

// Options tune Run beyond the configuration (tests).
type Options struct {
	// OnListen learns the API's bound address (HOPPER_HTTP_ADDR=:0).
	OnListen func(addr string)
	// OnMetricsListen learns the metrics server's bound address
	// (HOPPER_METRICS_ADDR=:0).
	OnMetricsListen func(addr string)
	// Settings are the product's settings its routes use (upload bounds,
	// webhooks); nil reads them from the environment.
	Settings *product.Settings
	// Push are the push-kind settings; nil reads them from the
	// environment (HOPPER_PUSH_ALLOW_HOSTS).
	Push *push.Settings
}

// Migrate applies the embedded database migrations and returns.
func Migrate(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	log.Info("database migrated")
	return nil
}

// topologyFor is what the gateway declares: the queues of the kinds it
// knows at start — the product's and the platform's — each bound to its
// kinds' names, so their jobs wait in RabbitMQ even before a worker has
// run. A kind of a worker service of one's own gets its queue when its
// first worker starts (until then its jobs wait in the outbox).
func topologyFor(cfg config.Config) (broker.Topology, error) {
	topo := broker.NewTopology(cfg.AMQPPrefix, cfg.QueueType)
	kinds, err := product.Kinds("")
	if err != nil {
		return topo, err
	}
	for _, k := range kinds {
		topo.Bind(k.Queue, k.Name)
	}
	for _, k := range jobs.DefaultKinds() {
		topo.Bind(k.Queue, k.Name)
	}
	return topo, nil
}

// systemKinds are the platform's own kinds as this gateway accepts them:
// public when enabled (HOPPER_SYSTEM_KINDS, on in dev), else internal, so
// no client can park a worker slot for an hour with system.sleep or make
// it call back to loopback; schedules an admin creates may still use them.
func systemKinds(enabled bool) []jobs.Kind {
	kinds := jobs.DefaultKinds()
	if !enabled {
		for i := range kinds {
			kinds[i].Visibility = jobs.VisibilityInternal
		}
	}
	return kinds
}

// Run serves the gateway until ctx ends, then shuts down cleanly.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger, opts Options) error {
	log.Info("starting", cfg.LogFields()...)
	if opts.Settings == nil {
		settings, err := product.LoadSettings(os.Getenv)
		if err != nil {
			return err
		}
		opts.Settings = &settings
	}
	log.Info("product settings", opts.Settings.LogFields()...)
	if opts.Push == nil {
		ps, err := push.LoadSettings(os.Getenv)
		if err != nil {
			return err
		}
		opts.Push = &ps
	}
	reg, err := jobs.NewRegistry(systemKinds(cfg.SystemKinds)...)
	if err != nil {
		return fmt.Errorf("kind registry: %w", err)
	}
	if !cfg.SystemKinds {
		log.Info("system.* kinds are internal: clients cannot submit them (HOPPER_SYSTEM_KINDS=true to allow)")
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 20, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	// Kinds come from the catalogue the worker services publish; the
	// platform's own system.* kinds are its seed.
	kinds := catalog.New(st, reg, log, catalog.DefaultEvery)
	if err := kinds.Refresh(ctx); err != nil {
		return fmt.Errorf("kind catalogue: %w", err)
	}

	m := metrics.New(cfg.Service)

	topo, err := topologyFor(cfg)
	if err != nil {
		return err
	}
	pub := broker.NewPublisher(cfg.AMQPURL, topo, broker.PublisherOptions{AppID: cfg.Service, Logger: log,
		OnReconnect: func() { m.Reconnects.WithLabelValues("publisher").Inc() }})
	// One polling connection per gateway wakes its job event streams, and
	// the dispatcher's fairness releases when any job changes. The
	// dispatcher's leader also fires the cron schedules.
	notifier := jobstore.NewJobNotifier(cfg.DatabaseURL, log)
	jobChanges, stopJobChanges := notifier.Subscribe(uuid.Nil)
	defer stopJobChanges()
	disp, err := dispatch.New(dispatch.Options{
		Store: st, Publisher: pub, Registry: kinds, Logger: log,
		LockKey: cfg.AMQPPrefix, Interval: cfg.DispatchInterval, Metrics: m,
		RepublishAfter: republishAfter(cfg.RepublishAfter),
		Wake:           jobChanges, FollowUps: followUps(st),
	})
	if err != nil {
		return err
	}
	// Marks land 2-2.5 s after the confirm, before the outbox (5 s) would
	// consider the job unpublished.
	marker := dispatch.NewPublishedMarker(st, log, 2*time.Second, 500*time.Millisecond)
	inspector, err := broker.NewInspector(broker.InspectorOptions{
		AMQPURL: cfg.AMQPURL, ManagementURL: cfg.RabbitMQManagementURL, Topology: topo, JobQueues: kinds.Queues,
	})
	if err != nil {
		return fmt.Errorf("HOPPER_RABBITMQ_MANAGEMENT_URL: %w", err)
	}
	if err := m.Register(newBacklogCollector(st, inspector, log, cfg.MetricsCache)); err != nil {
		return fmt.Errorf("register backlog metrics: %w", err)
	}
	// One LISTEN connection per gateway delivers output appends to the
	// output streams; the taker consumes for pull workers' claims.
	output := jobstore.NewOutputListener(cfg.DatabaseURL, log)
	taker := broker.NewTaker(cfg.AMQPURL, topo)
	defer taker.Close()
	shuttingDown := make(chan struct{})
	// Revoked keys and deactivated users reach every gateway at once.
	authChanges := accounts.NewAuthListener(cfg.DatabaseURL, log)
	pullFleet := api.NewPullFleet(st, log)
	handler := api.New(api.Options{
		Store: st, Publisher: pub, Registry: kinds, AdminToken: cfg.AdminToken,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxUploadBytes: opts.Settings.MaxUploadBytes, MaxAudioBytes: opts.Settings.MaxAudioBytes,
		MaxDocumentsPerUser: opts.Settings.MaxDocumentsPerUser, WebhookAllowPrivate: opts.Settings.WebhookAllowPrivate,
		NotifyMailsPerHour: opts.Settings.NotifyMailsPerHour,
		UploadsPerKey:      opts.Settings.UploadsPerKey, UploadsTotal: opts.Settings.UploadsTotal,
		UploadTimeout: opts.Settings.UploadTimeout,
		AppID:         cfg.Service, Logger: log,
		Leading: disp.Leading, Metrics: m, Marker: marker, Inspector: inspector,
		Notifier: notifier, ShuttingDown: shuttingDown,
		Access: cfg.Access, AuthChanges: authChanges,
		Output: output, OutputMaxBytes: cfg.OutputMaxBytes, Taker: taker,
		Push: st.Push, PushAllowHosts: opts.Push.AllowHosts, PullFleet: pullFleet,
		BindKind: func(ctx context.Context, k jobs.Kind) error {
			t := broker.NewTopology(cfg.AMQPPrefix, cfg.QueueType)
			t.Bind(k.Queue, k.Name)
			return broker.DeclareOnce(ctx, cfg.AMQPURL, cfg.Service+".bind", t)
		},
	})

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HOPPER_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	if opts.OnListen != nil {
		opts.OnListen(ln.Addr().String())
	}
	metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("HOPPER_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	if opts.OnMetricsListen != nil {
		opts.OnMetricsListen(metricsLn.Addr().String())
	}
	// The API's clients are strangers: each phase of a request has its
	// bound (uploads and event streams set their own per request).
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: cfg.HTTP.ReadHeader, ReadTimeout: cfg.HTTP.Read,
		WriteTimeout: cfg.HTTP.Write, IdleTimeout: cfg.HTTP.Idle, MaxHeaderBytes: cfg.HTTP.MaxHeaderBytes}
	metricsSrv := newMetricsServer(m)
	// Event streams never go idle: end them when shutdown starts.
	srv.RegisterOnShutdown(sync.OnceFunc(func() { close(shuttingDown) }))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return pub.Run(gctx) })
	g.Go(func() error { return disp.Run(gctx) })
	g.Go(func() error { return marker.Run(gctx) })
	g.Go(func() error { return notifier.Run(gctx) })
	g.Go(func() error { return authChanges.Run(gctx) })
	g.Go(func() error { return output.Run(gctx) })
	g.Go(func() error { return kinds.Run(gctx) })
	g.Go(func() error { return pullFleet.Run(gctx) })
	if cfg.PprofAddr != "" {
		g.Go(func() error { return httpx.ServePprof(gctx, cfg.PprofAddr) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		_ = metricsSrv.Shutdown(shutdownCtx)
		return srv.Shutdown(shutdownCtx)
	})
	log.Info("gateway listening", zap.String("addr", "http://"+ln.Addr().String()),
		zap.String("metrics", "http://"+metricsLn.Addr().String()+"/metrics"))
	err = g.Wait()
	log.Info("stopped")
	return err
}

// republishAfter maps HOPPER_REPUBLISH_AFTER (0: never) to the
// dispatcher's option (negative: never).
func republishAfter(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
