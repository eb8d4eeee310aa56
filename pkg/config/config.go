// Package config reads a service's HOPPER_* environment variables into a
// Config, with defaults that serve a laptop. A bad value fails at start
// with one line naming the variable, so an operator never has to guess.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Service names, used for defaults (ports, queues) and as the AMQP app id.
const (
	Gateway           = "gateway"
	ChatWorker        = "chat-worker"
	DocumentWorker    = "document-worker"
	MaintenanceWorker = "maintenance-worker"
)

// Defaults shared by every service.
const (
	DefaultDatabaseURL = "postgres://postgres:postgres@127.0.0.1:5432/hopper?sslmode=disable"
	DefaultAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
	DefaultPrefix      = "hopper"
)

// QueueConfig names a queue to consume and, optionally, the routing
// patterns bound to it. Empty Bindings means the standard ones for that
// queue name (see pkg/broker).
type QueueConfig struct {
	Name     string
	Bindings []string
}

// Config is one service's effective configuration.
type Config struct {
	Service       string
	Env           string // dev | stage | prod
	LogLevel      string
	DatabaseURL   string
	AMQPURL       string
	AMQPPrefix    string
	QueueType     string // classic | quorum
	HTTPAddr      string // gateway API
	MetricsAddr   string // a worker's /healthz, /readyz, /metrics
	Queues        []QueueConfig
	Concurrency   int
	AdminToken    string
	ShutdownGrace time.Duration
	MaxBodyBytes  int64
	WorkerID      string
	// Lease is how long a worker's claim owns a running job without
	// renewal; the heartbeat renews it every Lease/3.
	Lease time.Duration
	// DispatchInterval is the gateway dispatcher's pass interval.
	DispatchInterval time.Duration
	// RepublishAfter is how long a published job may stay unclaimed before
	// the gateway dispatcher publishes it again (0: never).
	RepublishAfter time.Duration
	// PprofAddr, when set, serves Go profiling endpoints there.
	PprofAddr string
	// RabbitMQManagementURL, when set, is the RabbitMQ management API
	// (http://user:pass@host:15672) the gateway reads queue figures from;
	// unset, it reads what AMQP tells.
	RabbitMQManagementURL string
	// MaxUploadBytes bounds one document upload (gateway).
	MaxUploadBytes int64
	// MaxDocumentsPerUser is an optional ceiling on every plan's documents
	// per user (gateway); 0 (the default) leaves it to the plans.
	MaxDocumentsPerUser int
	// Retention is how long finished jobs are kept, by final state, and
	// how long uploads are kept (0: forever); maintenance.cleanup applies it.
	Retention Retention
	// Providers are the external services the workers call; a kind whose
	// provider is unset fails its jobs naming the setting.
	Providers Providers
	// MaxAudioBytes bounds one audio upload for transcription (gateway).
	MaxAudioBytes int64
	// WebhookSecret signs completion webhooks (maintenance worker).
	WebhookSecret string
	// WebhookAllowPrivate lets webhooks reach loopback and private
	// addresses (tests, local development).
	WebhookAllowPrivate bool
}

// Endpoint is an OpenAI-compatible API: base URL, key and model, and the
// provider's rate limits (0: unlimited), shared by every worker replica
// pointing at the same host (pkg/ratelimit).
type Endpoint struct {
	URL    string
	APIKey string
	Model  string
	RPM    int // <prefix>_RPM: requests per minute
	TPM    int // <prefix>_TPM: tokens per minute (LLM and embeddings only)
}

// SMTP is the mail relay maintenance.email sends through.
type SMTP struct {
	Host     string
	Port     int // 0: by TLS mode (587, 465, 25)
	Username string
	Password string
	From     string
	TLS      string // starttls (default), tls or none
}

// Providers holds every external provider's settings.
type Providers struct {
	LLM        Endpoint // HOPPER_LLM_*
	Images     Endpoint // HOPPER_IMAGES_*
	STT        Endpoint // HOPPER_STT_* (speech to text)
	Embeddings Endpoint // HOPPER_EMBEDDINGS_*
	SearxNGURL string   // HOPPER_SEARXNG_URL
	SearxNGRPM int      // HOPPER_SEARXNG_RPM: requests per minute (0: unlimited)
	SMTP       SMTP     // HOPPER_SMTP_*
}

// Retention periods applied by maintenance.cleanup.
type Retention struct {
	Succeeded time.Duration
	Failed    time.Duration
	Cancelled time.Duration
	Uploads   time.Duration // 0 keeps uploads until their owner deletes them
}

type serviceDefaults struct {
	metricsAddr string
	queues      string
}

var defaultsByService = map[string]serviceDefaults{
	Gateway:           {metricsAddr: "", queues: ""},
	ChatWorker:        {metricsAddr: "127.0.0.1:9101", queues: "chat"},
	DocumentWorker:    {metricsAddr: "127.0.0.1:9102", queues: "document"},
	MaintenanceWorker: {metricsAddr: "127.0.0.1:9103", queues: "maintenance"},
}

// Getenv looks a variable up; os.Getenv fits, tests pass a map's lookup.
type Getenv func(key string) string

// Load reads the configuration of service from getenv. Any service name
// is accepted (a user's own worker service); the built-in ones have
// their own defaults, and another service's health server listens on a
// free loopback port unless HOPPER_METRICS_ADDR says where.
func Load(service string, getenv Getenv) (Config, error) {
	if !validServiceName(service) {
		return Config{}, fmt.Errorf("config: service name %q is invalid (want lower-case letters, digits and '-', at most 63)", service)
	}
	d, ok := defaultsByService[service]
	if !ok {
		d = serviceDefaults{metricsAddr: "127.0.0.1:0"}
	}
	r := reader{getenv: getenv}
	c := Config{
		Service:          service,
		Env:              r.oneOf("HOPPER_ENV", "dev", "dev", "stage", "prod"),
		LogLevel:         r.oneOf("HOPPER_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		DatabaseURL:      r.url("HOPPER_DATABASE_URL", DefaultDatabaseURL, "postgres", "postgresql"),
		AMQPURL:          r.url("HOPPER_AMQP_URL", DefaultAMQPURL, "amqp", "amqps"),
		AMQPPrefix:       r.name("HOPPER_AMQP_PREFIX", DefaultPrefix),
		QueueType:        r.oneOf("HOPPER_QUEUE_TYPE", "classic", "classic", "quorum"),
		HTTPAddr:         r.addr("HOPPER_HTTP_ADDR", "127.0.0.1:8080"),
		MetricsAddr:      r.addr("HOPPER_METRICS_ADDR", d.metricsAddr),
		Queues:           r.queues("HOPPER_QUEUES", d.queues),
		Concurrency:      r.positiveInt("HOPPER_CONCURRENCY", 4, 1024),
		AdminToken:       r.str("HOPPER_ADMIN_TOKEN", ""),
		ShutdownGrace:    r.duration("HOPPER_SHUTDOWN_GRACE", 25*time.Second),
		MaxBodyBytes:     int64(r.positiveInt("HOPPER_MAX_BODY_BYTES", 1<<20, 1<<30)),
		WorkerID:         r.str("HOPPER_WORKER_ID", ""),
		Lease:            r.duration("HOPPER_LEASE", 30*time.Second),
		DispatchInterval: r.duration("HOPPER_DISPATCH_INTERVAL", time.Second),
		RepublishAfter:   r.duration("HOPPER_REPUBLISH_AFTER", 5*time.Minute),
		PprofAddr:        r.addr("HOPPER_PPROF_ADDR", ""),
		RabbitMQManagementURL: r.optionalURL("HOPPER_RABBITMQ_MANAGEMENT_URL",
			"http://guest:guest@127.0.0.1:15672", "http", "https"),
		MaxUploadBytes:      int64(r.positiveInt("HOPPER_MAX_UPLOAD_BYTES", 20<<20, 1<<30)),
		MaxDocumentsPerUser: r.nonNegativeInt("HOPPER_MAX_DOCUMENTS_PER_USER", 0, 1_000_000),
		WebhookSecret:       r.str("HOPPER_WEBHOOK_SECRET", ""),
		MaxAudioBytes:       int64(r.positiveInt("HOPPER_MAX_AUDIO_BYTES", 25<<20, 1<<30)),
		Providers: Providers{
			LLM:        r.endpoint("HOPPER_LLM", "gpt-4o-mini", true),
			Images:     r.endpoint("HOPPER_IMAGES", "gpt-image-1", false),
			STT:        r.endpoint("HOPPER_STT", "whisper-1", false),
			Embeddings: r.endpoint("HOPPER_EMBEDDINGS", "text-embedding-3-small", true),
			SearxNGURL: r.optionalURL("HOPPER_SEARXNG_URL", "http://127.0.0.1:8888", "http", "https"),
			SearxNGRPM: r.nonNegativeInt("HOPPER_SEARXNG_RPM", 0, maxPerMinute),
			SMTP: SMTP{
				Host:     r.str("HOPPER_SMTP_HOST", ""),
				Port:     r.port("HOPPER_SMTP_PORT"),
				Username: r.str("HOPPER_SMTP_USERNAME", ""),
				Password: r.str("HOPPER_SMTP_PASSWORD", ""),
				From:     r.str("HOPPER_SMTP_FROM", ""),
				TLS:      r.oneOf("HOPPER_SMTP_TLS", "starttls", "starttls", "tls", "none"),
			},
		},
		Retention: Retention{
			Succeeded: r.duration("HOPPER_RETENTION_SUCCEEDED", 7*24*time.Hour),
			Failed:    r.duration("HOPPER_RETENTION_FAILED", 30*24*time.Hour),
			Cancelled: r.duration("HOPPER_RETENTION_CANCELLED", 7*24*time.Hour),
			Uploads:   r.duration("HOPPER_RETENTION_UPLOADS", 0),
		},
		WebhookAllowPrivate: r.boolean("HOPPER_WEBHOOK_ALLOW_PRIVATE", false),
	}
	pprofForce := r.boolean("HOPPER_PPROF_FORCE", false)
	if r.err != nil {
		return Config{}, r.err
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return Config{}, fmt.Errorf("HOPPER_ADMIN_TOKEN: must be at least 16 characters")
	}
	if c.Lease < time.Second {
		return Config{}, fmt.Errorf("HOPPER_LEASE: %s is too short (at least 1s)", c.Lease)
	}
	if c.DispatchInterval < 10*time.Millisecond {
		return Config{}, fmt.Errorf("HOPPER_DISPATCH_INTERVAL: %s is too short (at least 10ms)", c.DispatchInterval)
	}
	if c.RepublishAfter != 0 && c.RepublishAfter < time.Second {
		return Config{}, fmt.Errorf("HOPPER_REPUBLISH_AFTER: %s is too short (at least 1s, or 0 for never)", c.RepublishAfter)
	}
	if err := checkPprofAddr(c.PprofAddr, pprofForce); err != nil {
		return Config{}, err
	}
	return c, nil
}

// validServiceName: a DNS label, as a Kubernetes Deployment name is.
func validServiceName(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if c != '-' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkPprofAddr refuses a profiling address that is not loopback unless
// force: /debug/pprof serves heap contents (secrets included), goroutine
// stacks and the command line, to anyone who reaches it.
func checkPprofAddr(addr string, force bool) error {
	if addr == "" || force {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // r.addr reported it
	}
	if ip, err := netip.ParseAddr(host); (err == nil && ip.Unmap().IsLoopback()) || strings.EqualFold(host, "localhost") {
		return nil
	}
	return fmt.Errorf("HOPPER_PPROF_ADDR: %q is not a loopback address (/debug/pprof exposes memory and command lines): use 127.0.0.1:PORT or [::1]:PORT, or set HOPPER_PPROF_FORCE=true to serve it there anyway", addr)
}

// reader collects the first error, so Load reads like a table.
type reader struct {
	getenv Getenv
	err    error
}

func (r *reader) fail(key, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...))
	}
}

func (r *reader) str(key, def string) string {
	if v := strings.TrimSpace(r.getenv(key)); v != "" {
		return v
	}
	return def
}

func (r *reader) oneOf(key, def string, allowed ...string) string {
	v := r.str(key, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}

func (r *reader) url(key, def string, schemes ...string) string {
	v := r.str(key, def)
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		r.fail(key, "not a URL with a host (want e.g. %s)", MaskURL(def))
		return v
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	r.fail(key, "scheme %q not allowed (want %s)", u.Scheme, strings.Join(schemes, " or "))
	return v
}

// optionalURL is like url without a default: unset stays "".
func (r *reader) optionalURL(key, example string, schemes ...string) string {
	v := r.str(key, "")
	if v == "" {
		return ""
	}
	return r.url(key, example, schemes...)
}

func (r *reader) name(key, def string) string {
	v := r.str(key, def)
	for _, c := range v {
		ok := c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			r.fail(key, "%q may hold only letters, digits, '-' and '_'", v)
			return def
		}
	}
	return v
}

func (r *reader) addr(key, def string) string {
	v := r.str(key, def)
	if v == "" {
		return v
	}
	if _, _, err := net.SplitHostPort(v); err != nil {
		r.fail(key, "%q is not host:port (e.g. 127.0.0.1:8080 or :0)", v)
	}
	return v
}

func (r *reader) positiveInt(key string, def, max int) int {
	raw := r.getenv(key)
	if strings.TrimSpace(raw) == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 || n > max {
		r.fail(key, "%q is not an integer between 1 and %d", raw, max)
		return def
	}
	return n
}

// maxPerMinute bounds the provider rate-limit settings.
const maxPerMinute = 1_000_000_000

// nonNegativeInt reads an optional integer in [0, max] (def when unset).
func (r *reader) nonNegativeInt(key string, def, max int) int {
	raw := r.getenv(key)
	if strings.TrimSpace(raw) == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 0 || n > max {
		r.fail(key, "%q is not an integer between 0 and %d", raw, max)
		return def
	}
	return n
}

// endpoint reads <prefix>_URL, _API_KEY, _MODEL and _RPM (and _TPM when
// tokens is set); the model has a default only once a URL is set.
func (r *reader) endpoint(prefix, defaultModel string, tokens bool) Endpoint {
	e := Endpoint{
		URL:    r.optionalURL(prefix+"_URL", "https://api.openai.com/v1", "http", "https"),
		APIKey: r.str(prefix+"_API_KEY", ""),
		Model:  r.str(prefix+"_MODEL", ""),
		RPM:    r.nonNegativeInt(prefix+"_RPM", 0, maxPerMinute),
	}
	if tokens {
		e.TPM = r.nonNegativeInt(prefix+"_TPM", 0, maxPerMinute)
	}
	if e.URL != "" && e.Model == "" {
		e.Model = defaultModel
	}
	return e
}

// port reads an optional TCP port (0 when unset).
func (r *reader) port(key string) int {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		r.fail(key, "%q is not a port (1-65535)", v)
		return 0
	}
	return n
}

func (r *reader) boolean(key string, def bool) bool {
	v := strings.TrimSpace(r.getenv(key))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(key, "%q is not a boolean (true or false)", v)
		return def
	}
	return b
}

func (r *reader) duration(key string, def time.Duration) time.Duration {
	raw := strings.TrimSpace(r.getenv(key))
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 {
		r.fail(key, "%q is not a duration like 30s or 2m", raw)
		return def
	}
	return d
}

// queues parses "chat,images=chat.image|chat.video": comma-separated queue
// names, each optionally with its own '|'-separated routing patterns.
func (r *reader) queues(key, def string) []QueueConfig {
	raw := r.str(key, def)
	if raw == "" {
		return nil
	}
	var out []QueueConfig
	seen := map[string]bool{}
	for _, item := range strings.Split(raw, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, patterns, hasPatterns := strings.Cut(item, "=")
		q := QueueConfig{Name: strings.TrimSpace(name)}
		if q.Name == "" || strings.ContainsAny(q.Name, ".#* ") {
			r.fail(key, "queue name %q is invalid (want e.g. chat or images=chat.image)", name)
			return nil
		}
		if seen[q.Name] {
			r.fail(key, "queue %q listed twice", q.Name)
			return nil
		}
		seen[q.Name] = true
		if hasPatterns {
			for _, p := range strings.Split(patterns, "|") {
				if p = strings.TrimSpace(p); p != "" {
					q.Bindings = append(q.Bindings, p)
				}
			}
			if len(q.Bindings) == 0 {
				r.fail(key, "queue %q has '=' but no routing patterns", q.Name)
				return nil
			}
		}
		out = append(out, q)
	}
	return out
}

// masked replaces every secret MaskURL hides.
const masked = "xxxxx"

// MaskURL hides the secrets of a URL for logs: the password of its user
// information, and the value of every query or fragment parameter whose
// name looks secret (see secretKey: ?password=, ?api_key=, ?token=,
// sslpassword, …), in hierarchical and opaque URLs alike. A
// keyword/value connection string ("host=db password=…") has its secret
// values masked the same way. What cannot be parsed is not returned.
func MaskURL(raw string) string {
	if !strings.Contains(raw, "://") && dsnSecret.MatchString(raw) {
		return dsnSecret.ReplaceAllString(raw, "${1}"+masked)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), masked)
	}
	query, hasQuery := u.RawQuery, u.RawQuery != "" || u.ForceQuery
	fragment := u.EscapedFragment()
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	out := u.String()
	if hasQuery {
		out += "?" + maskParams(query)
	}
	if fragment != "" {
		out += "#" + maskParams(fragment)
	}
	return out
}

// maskParams masks the values of secret-looking parameters in a
// "k=v&k=v" string, keeping everything else as written.
func maskParams(s string) string {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '&' || r == ';' })
	if len(parts) == 0 {
		return s
	}
	var b strings.Builder
	rest := s
	for _, part := range parts {
		i := strings.Index(rest, part)
		b.WriteString(rest[:i]) // the separators
		rest = rest[i+len(part):]
		key, _, hasValue := strings.Cut(part, "=")
		name, err := url.QueryUnescape(key)
		if err != nil {
			name = key
		}
		if hasValue && (secretKey(name) || secretKey(key)) {
			b.WriteString(key + "=" + masked)
			continue
		}
		b.WriteString(part)
	}
	b.WriteString(rest)
	return b.String()
}

// secretWords are the parts of a parameter name that mark its value as a
// secret: password, passwd, sslpassword, pwd, api_key, apikey, sslkey,
// token, access_token, client_secret, credential, signature.
var secretWords = []string{"pass", "pwd", "secret", "token", "key", "credential", "signature"}

// secretKey reports whether a parameter named name holds a secret.
func secretKey(name string) bool {
	name = strings.ToLower(name)
	if name == "sig" { // e.g. Azure SAS signatures
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// dsnSecret matches a secret-looking key and its value in a keyword/value
// connection string (libpq style: key=value or key = 'quoted value').
var dsnSecret = regexp.MustCompile(`(?i)((?:^|\s)[\w.-]*(?:pass|pwd|secret|token|key|credential|signature)[\w.-]*\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s]*)`)

// QueueNames lists the configured queue names.
func (c Config) QueueNames() []string {
	names := make([]string, len(c.Queues))
	for i, q := range c.Queues {
		names[i] = q.Name
	}
	return names
}

// LogFields describes the effective configuration for the start-up log
// line, with secrets masked.
func (c Config) LogFields() []zap.Field {
	token := "(unset)"
	if c.AdminToken != "" {
		token = "(set)"
	}
	return []zap.Field{
		zap.String("env", c.Env),
		zap.String("log_level", c.LogLevel),
		zap.String("database_url", MaskURL(c.DatabaseURL)),
		zap.String("amqp_url", MaskURL(c.AMQPURL)),
		zap.String("amqp_prefix", c.AMQPPrefix),
		zap.String("queue_type", c.QueueType),
		zap.String("http_addr", c.HTTPAddr),
		zap.String("metrics_addr", c.MetricsAddr),
		zap.Strings("queues", c.QueueNames()),
		zap.Int("concurrency", c.Concurrency),
		zap.String("admin_token", token),
		zap.Duration("shutdown_grace", c.ShutdownGrace),
		zap.Int64("max_body_bytes", c.MaxBodyBytes),
		zap.Duration("lease", c.Lease),
		zap.Duration("dispatch_interval", c.DispatchInterval),
		zap.Duration("republish_after", c.RepublishAfter),
		zap.String("rabbitmq_management_url", MaskURL(c.RabbitMQManagementURL)),
		zap.Int64("max_upload_bytes", c.MaxUploadBytes),
		zap.Int("max_documents_per_user", c.MaxDocumentsPerUser),
		zap.Bool("webhook_secret_set", c.WebhookSecret != ""),
		zap.String("llm_url", MaskURL(c.Providers.LLM.URL)),
		zap.String("llm_model", c.Providers.LLM.Model),
		zap.Int("llm_rpm", c.Providers.LLM.RPM),
		zap.Int("llm_tpm", c.Providers.LLM.TPM),
		zap.String("images_url", MaskURL(c.Providers.Images.URL)),
		zap.Int("images_rpm", c.Providers.Images.RPM),
		zap.String("stt_url", MaskURL(c.Providers.STT.URL)),
		zap.Int("stt_rpm", c.Providers.STT.RPM),
		zap.String("embeddings_url", MaskURL(c.Providers.Embeddings.URL)),
		zap.Int("embeddings_rpm", c.Providers.Embeddings.RPM),
		zap.Int("embeddings_tpm", c.Providers.Embeddings.TPM),
		zap.String("searxng_url", MaskURL(c.Providers.SearxNGURL)),
		zap.Int("searxng_rpm", c.Providers.SearxNGRPM),
		zap.String("smtp_host", c.Providers.SMTP.Host),
		zap.Duration("retention_succeeded", c.Retention.Succeeded),
		zap.Duration("retention_failed", c.Retention.Failed),
		zap.Duration("retention_cancelled", c.Retention.Cancelled),
		zap.Duration("retention_uploads", c.Retention.Uploads),
		zap.Bool("webhook_allow_private", c.WebhookAllowPrivate),
	}
}
