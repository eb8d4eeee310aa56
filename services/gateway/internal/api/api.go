// Package api is the gateway's HTTP API (gin): job submission, status,
// listing and cancellation, the admin endpoints for users and keys, and the
// health probes. Every error answer uses pkg/httpx's JSON shape.
package api

import (
	"context"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/broker"
	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/dispatch"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/metrics"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/webhook"
	"github.com/hopperq/hopper/services/gateway/internal/api/openapi"
)

// Options wire the API to its dependencies.
type Options struct {
	Store        Store
	Publisher    *broker.Publisher
	Registry     KindCatalog
	AdminToken   string
	MaxBodyBytes int64
	// MaxUploadBytes bounds a document upload (POST /v1/documents).
	MaxUploadBytes int64
	// MaxAudioBytes bounds an audio upload (POST /v1/chat/transcribe).
	MaxAudioBytes int64
	// UploadsPerKey and UploadsTotal bound the uploads in progress per API
	// key (over it: 429) and on this gateway (503); 0 is unbounded.
	UploadsPerKey, UploadsTotal int
	// UploadTimeout is an upload's read and write deadline, in place of
	// the server's (set per request); 0 keeps the server's.
	UploadTimeout time.Duration
	// MaxDocumentsPerUser is a global ceiling on every plan's documents
	// per user (HOPPER_MAX_DOCUMENTS_PER_USER); 0 means none, the plans
	// alone decide.
	MaxDocumentsPerUser int
	// WebhookAllowPrivate accepts webhook URLs on loopback and private
	// addresses (HOPPER_WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
	// NotifyMailsPerHour bounds the job-finished mails one user may ask
	// for in a sliding hour (HOPPER_NOTIFY_MAILS_PER_HOUR); 0 is unlimited.
	NotifyMailsPerHour int
	AppID              string
	Logger             *zap.Logger
	// PublishTimeout bounds the synchronous publish on submit; a job whose
	// publish is not confirmed in time stays in the outbox for the
	// dispatcher.
	PublishTimeout time.Duration
	Now            func() time.Time
	// Leading reports whether this replica's dispatcher leads (readyz).
	Leading func() bool
	// Metrics receives HTTP and submit counts; the gateway serves it on
	// its own port (HOPPER_METRICS_ADDR), not here.
	Metrics *metrics.Metrics
	// Marker batches the published marks of confirmed submits; nil marks
	// each job with its own statement.
	Marker *dispatch.PublishedMarker
	// Inspector reads queue figures for GET /v1/queues and names the
	// queues an admin may pause; nil answers 503 and 404.
	Inspector *broker.Inspector
	// Notifier wakes GET /v1/jobs/{id}/events streams when their job
	// changes; nil (or while it is not listening) they poll twice a second.
	Notifier Notifier
	// Output delivers appended output to GET /v1/jobs/{id}/output
	// streams; nil, they poll twice a second.
	Output OutputSource
	// OutputMaxBytes bounds an attempt's output appended through the
	// pull protocol (HOPPER_OUTPUT_MAX_BYTES).
	OutputMaxBytes int64
	// Taker takes deliveries for the pull protocol's claims; nil answers
	// 503 there.
	Taker Taker
	// ShuttingDown closes when the server begins a graceful shutdown:
	// event streams end then (clients resume with Last-Event-ID), so the
	// shutdown does not wait on them. nil never closes.
	ShuttingDown <-chan struct{}
	// Push holds the push kinds; PushAllowHosts lets their targets on
	// internal hosts past the guard (HOPPER_PUSH_ALLOW_HOSTS).
	Push           PushStore
	PushAllowHosts webhook.AllowList
	// BindKind binds a kind declared at run time (a push kind) to its
	// queue on the broker; nil leaves it to the push worker.
	BindKind func(ctx context.Context, k jobs.Kind) error
	// Access bounds event streams, dashboard sessions and failed
	// authentications; zero fields take config's defaults.
	Access config.Access
	// AuthChanges announces keys revoked and users changed on any
	// replica (*accounts.AuthListener); nil, only this gateway's own
	// revocations act at once, others after keyCacheTTL.
	AuthChanges AuthChanges
	// PullFleet keeps pull workers' rows in the workers table; the
	// gateway runs its loop. nil: one over Store, whose rows calls renew
	// but a long poll does not.
	PullFleet *PullFleet
}

// AuthChanges delivers key and user changes from Postgres.
type AuthChanges interface {
	OnChange(fn func(accounts.AuthChange))
}

// API holds the handlers.
type API struct {
	opts Options
	db   stores
	log  *zap.Logger
	keys *keyCache
	// plans caches the plans table (planCacheTTL).
	plans *planCache
	// publisher publishes accepted jobs and marks them (Marker, else the
	// store at once).
	publisher *dispatch.JobPublisher
	// failures counts failed authentications per client address.
	failures *authLimiter
	// streams counts open event streams per key and in total.
	streams *streamRegistry
	// pull is the pull protocol's waiting claims and call rates.
	pull *pullState
	// uploads bounds the uploads in progress.
	uploads *uploadSlots
	// pushKey caches the push callback tokens' key.
	pushKey atomic.Pointer[[]byte]
	// pullFleet is the pull workers seen here (Options.PullFleet).
	pullFleet *PullFleet
}

// New builds the gin engine serving the whole API.
func New(opts Options) *gin.Engine {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.New("gateway")
	}
	if opts.Leading == nil {
		opts.Leading = func() bool { return false }
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 5 * time.Second
	}
	if opts.OutputMaxBytes <= 0 {
		opts.OutputMaxBytes = jobstore.DefaultOutputMaxBytes
	}
	opts.Access = withAccessDefaults(opts.Access)
	if opts.PullFleet == nil {
		opts.PullFleet = NewPullFleet(opts.Store, opts.Logger)
	}
	a := &API{opts: opts, db: newStores(opts.Store), log: opts.Logger, keys: newKeyCache(keyCacheTTL, 10000), plans: &planCache{},
		pull: newPullState(), uploads: newUploadSlots(opts.UploadsPerKey, opts.UploadsTotal), pullFleet: opts.PullFleet,
		failures: newAuthLimiter(opts.Access.AuthFailuresPerMinute),
		streams:  newStreamRegistry(opts.Access.StreamsPerKey, opts.Access.Streams)}
	if err := opts.Metrics.Register(a.uploads.gauge()); err != nil {
		a.log.Warn("uploads gauge not registered", zap.Error(err))
	}
	if opts.AuthChanges != nil {
		opts.AuthChanges.OnChange(a.authChanged)
	}
	mark := func(ctx context.Context, ids ...uuid.UUID) error { return a.db.jobs.MarkPublished(ctx, ids...) }
	if opts.Marker != nil {
		mark = opts.Marker.MarkAll
	}
	a.publisher = &dispatch.JobPublisher{Broker: opts.Publisher, Mark: mark, Metrics: opts.Metrics, Logger: a.log,
		Timeout: opts.PublishTimeout}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// The client address that failed authentications count against is the
	// peer's, or X-Forwarded-For's from a trusted proxy only: otherwise
	// a client would pick its own address with the header.
	if err := r.SetTrustedProxies(opts.Access.TrustedProxies); err != nil {
		a.log.Error("HOPPER_TRUSTED_PROXIES ignored", zap.Error(err))
		_ = r.SetTrustedProxies(nil)
	}
	r.HandleMethodNotAllowed = true
	r.NoRoute(httpx.NotFound)
	r.NoMethod(httpx.MethodNotAllowed)
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 20 << 20
		a.opts.MaxUploadBytes = opts.MaxUploadBytes
	}
	if opts.MaxAudioBytes <= 0 {
		opts.MaxAudioBytes = 25 << 20
		a.opts.MaxAudioBytes = opts.MaxAudioBytes
	}
	r.Use(httpx.Recovery(a.log), httpx.AccessLog(a.log), a.measure,
		httpx.LimitBodyByRoute(opts.MaxBodyBytes, map[string]int64{
			"POST /v1/documents":       opts.MaxUploadBytes + uploadOverhead,
			"POST /v1/chat/transcribe": opts.MaxAudioBytes + uploadOverhead,
		}))

	r.GET("/healthz", a.healthz)
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openapi.Spec) })
	r.GET("/docs", a.docs)
	a.routeDashboard(r)
	r.GET("/readyz", a.readyz)
	// Authenticated by its job-scoped token, not an API key.
	r.POST("/v1/push/callback/:id/:attempt/:action", a.pushCallback)

	v1 := r.Group("/v1", a.authenticate)
	v1.POST("/jobs", a.submitJob)
	v1.POST("/jobs/batch", a.submitBatch)
	v1.GET("/jobs", a.listJobs)
	v1.GET("/jobs/:id", a.getJob)
	v1.DELETE("/jobs/:id", a.cancelJob)
	v1.POST("/jobs/:id/retry", a.retryJob)
	v1.GET("/jobs/:id/events", a.jobEvents)
	v1.GET("/jobs/:id/artifacts/:name", a.getArtifact)
	v1.GET("/jobs/:id/output", a.jobOutput)
	v1.POST("/workflows", a.submitWorkflow)
	v1.GET("/workflows", a.listWorkflows)
	v1.GET("/workflows/:id", a.getWorkflow)
	v1.GET("/workflows/:id/events", a.workflowEvents)
	v1.POST("/workflows/:id/cancel", a.cancelWorkflow)
	v1.POST("/workflows/:id/steps/:name/retry", a.retryWorkflowStep)
	v1.GET("/stats", a.stats)
	v1.GET("/users/me", a.me)
	v1.GET("/users/me/report", a.myReport)
	v1.GET("/users/me/limits", a.myLimits)
	v1.POST("/users/me/webhook-secrets", a.createWebhookSecret)
	v1.GET("/users/me/webhook-secrets", a.listWebhookSecrets)
	v1.DELETE("/users/me/webhook-secrets/:id", a.deleteWebhookSecret)
	v1.GET("/queues", a.listQueues)
	v1.GET("/workers", a.requireAdmin, a.listWorkers)
	v1.GET("/kinds", a.listKinds)
	v1.GET("/kinds/:name", a.getKind)
	v1.POST("/documents", a.uploadDocument)
	v1.GET("/documents", a.listDocuments)
	v1.GET("/documents/:id", a.getDocument)
	v1.DELETE("/documents/:id", a.deleteDocument)
	v1.POST("/qa/ask", a.askQuestion)
	v1.POST("/chat/transcribe", a.uploadTranscription)

	admin := v1.Group("/admin", a.requireAdmin)
	admin.POST("/users", a.createUser)
	admin.POST("/users/:id/keys", a.createKey)
	admin.PUT("/users/:id/plan", a.setUserPlan)
	admin.GET("/plans", a.listPlans)
	admin.POST("/plans", a.createPlan)
	admin.PUT("/plans/:name", a.updatePlan)
	admin.DELETE("/plans/:name", a.deletePlan)
	admin.DELETE("/keys/:id", a.revoker("key", func(ctx context.Context, id uuid.UUID) error { return a.db.accounts.RevokeAPIKey(ctx, id) },
		func(id uuid.UUID) accounts.AuthChange { return accounts.AuthChange{KeyID: id} }))
	admin.GET("/users/:id/keys", a.listKeys)
	admin.POST("/users/:id/deactivate", a.setUserActive(false))
	admin.POST("/users/:id/activate", a.setUserActive(true))
	admin.DELETE("/kinds/:name", a.deleteKind)
	admin.POST("/worker-tokens", a.createWorkerToken)
	admin.GET("/worker-tokens", a.listWorkerTokens)
	admin.DELETE("/worker-tokens/:id", a.revoker("worker token", func(ctx context.Context, id uuid.UUID) error { return a.db.accounts.RevokeWorkerToken(ctx, id) },
		func(id uuid.UUID) accounts.AuthChange { return accounts.AuthChange{WorkerTokenID: id} }))
	admin.POST("/queues/:name/pause", a.setQueuePaused(true))
	admin.POST("/queues/:name/resume", a.setQueuePaused(false))
	admin.GET("/schedules", a.listSchedules)
	admin.POST("/schedules", a.createSchedule)
	admin.POST("/schedules/:name/enable", a.enableSchedule)
	admin.POST("/schedules/:name/disable", a.disableSchedule)
	admin.POST("/schedules/:name/trigger", a.triggerSchedule)
	admin.DELETE("/schedules/:name", a.deleteSchedule)

	// The pull protocol: worker tokens only (authenticateWorker).
	pull := r.Group("/v1/worker", a.authenticateWorker, a.pullSeen)
	pull.POST("/kinds", a.pullRegister)
	pull.POST("/claim", a.pullClaim)
	pull.POST("/jobs/:id/heartbeat", a.pullHeartbeat)
	pull.POST("/jobs/:id/progress", a.pullProgress)
	pull.POST("/jobs/:id/output", a.pullOutput)
	pull.POST("/jobs/:id/succeed", a.pullSucceed)
	pull.POST("/jobs/:id/fail", a.pullFail(true))
	pull.POST("/jobs/:id/retry", a.pullFail(false))
	pull.POST("/jobs/:id/release", a.pullRelease)
	pull.GET("/jobs/:id/parents", a.pullParents)
	admin.POST("/push-kinds", a.createPushKind)
	admin.GET("/push-kinds", a.listPushKinds)
	admin.GET("/push-kinds/:name", a.getPushKind)
	admin.PATCH("/push-kinds/:name", a.updatePushKind)
	admin.DELETE("/push-kinds/:name", a.deletePushKind)
	admin.POST("/push-kinds/:name/rotate-secret", a.rotatePushSecret)
	return r
}

// measure counts requests and their latency by route template (not raw
// path, which would explode label cardinality with job ids).
func (a *API) measure(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	a.opts.Metrics.HTTPRequests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
	a.opts.Metrics.HTTPSeconds.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
}

func (a *API) docs(c *gin.Context) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	if err := openapi.RenderDocs(c.Writer); err != nil {
		a.log.Error("render docs", zap.Error(err))
		httpx.Abort(c, http.StatusInternalServerError, httpx.CodeInternal, "docs unavailable", nil)
	}
}

// HealthStatus answers GET /healthz.
type HealthStatus struct {
	Status string `json:"status"`
}

func (a *API) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, HealthStatus{Status: "ok"})
}

// Readiness answers GET /readyz: status is ready, degraded (RabbitMQ
// down) or unavailable (Postgres down).
type Readiness struct {
	Status           string `json:"status"`
	Postgres         bool   `json:"postgres"`
	RabbitMQ         bool   `json:"rabbitmq"`
	DispatcherLeader bool   `json:"dispatcher_leader"`
}

// readyz answers 503 only when Postgres is unreachable: with RabbitMQ down
// the gateway still accepts jobs (they wait in Postgres for the
// dispatcher), so it reports "degraded" but stays in rotation.
func (a *API) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	pgOK := a.opts.Store.Ping(ctx) == nil
	amqpOK := a.opts.Publisher.Ready()
	body := Readiness{Postgres: pgOK, RabbitMQ: amqpOK, DispatcherLeader: a.opts.Leading()}
	switch {
	case !pgOK:
		body.Status = "unavailable"
		c.JSON(http.StatusServiceUnavailable, body)
	case !amqpOK:
		body.Status = "degraded"
		c.JSON(http.StatusOK, body)
	default:
		body.Status = "ready"
		c.JSON(http.StatusOK, body)
	}
}

// withAccessDefaults fills the zero fields of a (tests building Options
// by hand) with config's defaults.
func withAccessDefaults(a config.Access) config.Access {
	d := config.DefaultAccess()
	if a.StreamsPerKey <= 0 {
		a.StreamsPerKey = d.StreamsPerKey
	}
	if a.Streams <= 0 {
		a.Streams = d.Streams
	}
	if a.StreamRecheck <= 0 {
		a.StreamRecheck = d.StreamRecheck
	}
	if a.SessionIdle <= 0 {
		a.SessionIdle = d.SessionIdle
	}
	if a.SessionMaxAge <= 0 {
		a.SessionMaxAge = d.SessionMaxAge
	}
	if a.AuthFailuresPerMinute <= 0 {
		a.AuthFailuresPerMinute = d.AuthFailuresPerMinute
	}
	return a
}
