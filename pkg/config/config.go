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
	PushWorker        = "push-worker"
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
	Service     string
	Env         string // dev | stage | prod
	LogLevel    string
	DatabaseURL string
	AMQPURL     string
	AMQPPrefix  string
	QueueType   string // classic | quorum
	HTTPAddr    string // gateway API
	// MetricsAddr serves a worker's /healthz, /readyz, /metrics, and the
	// gateway's /metrics (kept off its public port).
	MetricsAddr   string
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
	// OutputMaxBytes bounds one attempt's output chunks
	// (HOPPER_OUTPUT_MAX_BYTES, default 1 MiB).
	OutputMaxBytes int64
	// OutputFlushEvery is the longest a worker holds an output chunk to
	// write it with the next ones (HOPPER_OUTPUT_FLUSH_EVERY, default
	// 20ms; 0 writes every chunk at once).
	OutputFlushEvery time.Duration
	// PprofAddr, when set, serves Go profiling endpoints there.
	PprofAddr string
	// RabbitMQManagementURL, when set, is the RabbitMQ management API
	// (http://user:pass@host:15672) the gateway reads queue figures from;
	// unset, it reads what AMQP tells.
	RabbitMQManagementURL string
	// HTTP bounds the gateway's connections (HOPPER_HTTP_*).
	HTTP HTTPTimeouts
	// MetricsCache is how long the gateway reuses its expensive scrape-time
	// figures (a count in Postgres, queue figures from RabbitMQ).
	MetricsCache time.Duration
	// MemoryLimitMiB is the container's memory limit (HOPPER_MEMORY_LIMIT_MIB,
	// from the Deployment's resourceFieldRef); 0 sets none. The service's
	// Go memory limit is about 90% of it (ApplyMemoryLimit).
	MemoryLimitMiB int
	// SystemKinds lets clients submit system.noop and system.sleep
	// (HOPPER_SYSTEM_KINDS; default on in dev only). They are test aids:
	// system.sleep holds a worker slot for up to an hour, so a deployment
	// that serves strangers keeps them off.
	SystemKinds bool
	// Access bounds streams, sessions and failed sign-ins (access.go).
	Access Access
}

// HTTPTimeouts are an HTTP server's bounds on its clients: a client that
// sends its headers or body too slowly, or idles, is cut off.
type HTTPTimeouts struct {
	ReadHeader time.Duration // HOPPER_HTTP_READ_HEADER_TIMEOUT
	// Read bounds reading a whole request; routes that take uploads set
	// their own deadline (HOPPER_UPLOAD_TIMEOUT).
	Read time.Duration // HOPPER_HTTP_READ_TIMEOUT
	// Write bounds a response; event streams clear it for themselves.
	Write          time.Duration // HOPPER_HTTP_WRITE_TIMEOUT
	Idle           time.Duration // HOPPER_HTTP_IDLE_TIMEOUT
	MaxHeaderBytes int           // HOPPER_HTTP_MAX_HEADER_BYTES
}

type serviceDefaults struct {
	metricsAddr string
	queues      string
}

var defaultsByService = map[string]serviceDefaults{
	Gateway:           {metricsAddr: "127.0.0.1:9100", queues: ""},
	ChatWorker:        {metricsAddr: "127.0.0.1:9101", queues: "chat"},
	DocumentWorker:    {metricsAddr: "127.0.0.1:9102", queues: "document"},
	MaintenanceWorker: {metricsAddr: "127.0.0.1:9103", queues: "maintenance"},
	PushWorker:        {metricsAddr: "127.0.0.1:9104", queues: "push"},
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
		OutputMaxBytes:   int64(r.positiveInt("HOPPER_OUTPUT_MAX_BYTES", 1<<20, 64<<20)),
		OutputFlushEvery: r.duration("HOPPER_OUTPUT_FLUSH_EVERY", 20*time.Millisecond),
		RabbitMQManagementURL: r.optionalURL("HOPPER_RABBITMQ_MANAGEMENT_URL",
			"http://guest:guest@127.0.0.1:15672", "http", "https"),
	}
	c.HTTP = HTTPTimeouts{
		ReadHeader:     r.duration("HOPPER_HTTP_READ_HEADER_TIMEOUT", 10*time.Second),
		Read:           r.duration("HOPPER_HTTP_READ_TIMEOUT", 30*time.Second),
		Write:          r.duration("HOPPER_HTTP_WRITE_TIMEOUT", 60*time.Second),
		Idle:           r.duration("HOPPER_HTTP_IDLE_TIMEOUT", 120*time.Second),
		MaxHeaderBytes: r.positiveInt("HOPPER_HTTP_MAX_HEADER_BYTES", 64<<10, 16<<20),
	}
	c.MetricsCache = r.duration("HOPPER_METRICS_CACHE", 10*time.Second)
	c.MemoryLimitMiB = r.nonNegativeInt("HOPPER_MEMORY_LIMIT_MIB", 0, 1<<24)
	c.SystemKinds = r.boolean("HOPPER_SYSTEM_KINDS", c.Env == "dev")
	pprofForce := r.boolean("HOPPER_PPROF_FORCE", false)
	c.Access = r.access()
	if r.err != nil {
		return Config{}, r.err
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return Config{}, fmt.Errorf("HOPPER_ADMIN_TOKEN: must be at least 16 characters")
	}
	if err := checkSecrets(c); err != nil {
		return Config{}, err
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
	if c.HTTP.ReadHeader <= 0 {
		return Config{}, fmt.Errorf("HOPPER_HTTP_READ_HEADER_TIMEOUT: must be positive (a client sending headers slowly would hold a connection forever)")
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
	return append([]zap.Field{
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
		zap.Int64("output_max_bytes", c.OutputMaxBytes),
		zap.Duration("output_flush_every", c.OutputFlushEvery),
		zap.Duration("lease", c.Lease),
		zap.Duration("dispatch_interval", c.DispatchInterval),
		zap.Duration("republish_after", c.RepublishAfter),
		zap.String("rabbitmq_management_url", MaskURL(c.RabbitMQManagementURL)),
		zap.Bool("system_kinds", c.SystemKinds),
		zap.Int("memory_limit_mib", c.MemoryLimitMiB),
		zap.Duration("http_read_header_timeout", c.HTTP.ReadHeader),
		zap.Duration("http_read_timeout", c.HTTP.Read),
		zap.Duration("http_write_timeout", c.HTTP.Write),
		zap.Duration("http_idle_timeout", c.HTTP.Idle),
		zap.Int("http_max_header_bytes", c.HTTP.MaxHeaderBytes),
		zap.Duration("metrics_cache", c.MetricsCache),
	}, c.Access.logFields()...)
}

// Reader reads HOPPER_* variables with the rules and messages Load uses,
// keeping the first error, so a layer above the platform (the product's
// settings) reads its own variables the same way.
type Reader struct{ r reader }

// NewReader reads from getenv.
func NewReader(getenv Getenv) *Reader { return &Reader{r: reader{getenv: getenv}} }

// Err is the first bad variable, as "VAR: why".
func (r *Reader) Err() error { return r.r.err }

// Str is the variable, trimmed, or def when unset.
func (r *Reader) Str(key, def string) string { return r.r.str(key, def) }

// OneOf is the variable (or def), which must be one of allowed.
func (r *Reader) OneOf(key, def string, allowed ...string) string {
	return r.r.oneOf(key, def, allowed...)
}

// OptionalURL is a URL with one of schemes, or "" when unset; example
// shows its shape in the error.
func (r *Reader) OptionalURL(key, example string, schemes ...string) string {
	return r.r.optionalURL(key, example, schemes...)
}

// PositiveInt is an integer in [1, max], def when unset.
func (r *Reader) PositiveInt(key string, def, max int) int { return r.r.positiveInt(key, def, max) }

// NonNegativeInt is an integer in [0, max], def when unset.
func (r *Reader) NonNegativeInt(key string, def, max int) int {
	return r.r.nonNegativeInt(key, def, max)
}

// Bool is true or false, def when unset.
func (r *Reader) Bool(key string, def bool) bool { return r.r.boolean(key, def) }

// Duration is a duration like 30s, def when unset.
func (r *Reader) Duration(key string, def time.Duration) time.Duration { return r.r.duration(key, def) }

// Fail records an error for key unless one is recorded already.
func (r *Reader) Fail(key, format string, args ...any) { r.r.fail(key, format, args...) }
