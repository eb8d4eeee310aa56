// Package push holds what the gateway and the push worker share about
// push kinds — kinds whose handler is an HTTP endpoint Hopper POSTs each
// job to: the catalogue definition of a declared kind, the delivery
// headers, the job-scoped callback tokens, and the settings.
package push

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/webhook"
)

// Every push kind is bound to one queue and run by one service.
const (
	Queue   = "push"
	Service = config.PushWorker
)

// The headers of a delivery, besides Content-Type, User-Agent,
// Hopper-Signature (webhook.SignatureHeader) and Hopper-Delivery
// (webhook.DeliveryHeader: one id per job, the same on every attempt, so
// a target that has seen it can de-duplicate).
const (
	HeaderJobID         = "Hopper-Job-Id"
	HeaderKind          = "Hopper-Kind"
	HeaderAttempt       = "Hopper-Attempt"
	HeaderMaxAttempts   = "Hopper-Max-Attempts"
	HeaderTimeout       = "Hopper-Timeout-Ms"
	HeaderCallbackURL   = "Hopper-Callback-Url"
	HeaderCallbackToken = "Hopper-Callback-Token"
)

// Bounds of a declaration.
const (
	MaxTimeout     = 24 * time.Hour
	MaxConcurrency = 10000
	MaxRate        = 10000
	// MaxResultBytes bounds a 2xx answer's body kept as the job's result.
	MaxResultBytes = 1 << 20
)

// Declaration is what an admin says of a push kind. Zero fields take the
// defaults of any kind (hopper.KindSpec's).
type Declaration struct {
	Name        string
	Description string
	URL         string
	Timeout     time.Duration
	MaxAttempts int
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// Concurrency caps the kind's running jobs fleet-wide (0: no cap).
	Concurrency int
	// RatePerSecond caps deliveries started per second (0: none).
	RatePerSecond   float64
	DefaultPriority jobs.Priority
	Schema          json.RawMessage
	Visibility      jobs.Visibility
}

// Kind checks d and turns it into its catalogue definition (queue push,
// service push-worker). The URL must pass the guard with allow.
func (d Declaration) Kind(allow webhook.AllowList) (jobs.Kind, error) {
	if err := webhook.CheckURLAllowing(d.URL, allow); err != nil {
		return jobs.Kind{}, fmt.Errorf("url: %w", err)
	}
	switch {
	case d.Timeout < 0 || d.Timeout > MaxTimeout:
		return jobs.Kind{}, fmt.Errorf("timeout: %s out of range 1s-%s", d.Timeout, MaxTimeout)
	case d.Concurrency < 0 || d.Concurrency > MaxConcurrency:
		return jobs.Kind{}, fmt.Errorf("concurrency: %d out of range 0-%d", d.Concurrency, MaxConcurrency)
	case d.RatePerSecond < 0 || d.RatePerSecond > MaxRate:
		return jobs.Kind{}, fmt.Errorf("rate_per_second: %g out of range 0-%d", d.RatePerSecond, MaxRate)
	}
	k := jobs.Kind{Name: d.Name, Queue: Queue, Service: Service, Description: d.Description,
		DefaultPriority: d.DefaultPriority, MaxAttempts: d.MaxAttempts, Timeout: d.Timeout,
		BackoffBase: d.BackoffBase, BackoffCap: d.BackoffCap, Schema: d.Schema, Visibility: d.Visibility}
	if k.DefaultPriority == 0 {
		k.DefaultPriority = jobs.PriorityNormal
	}
	if k.MaxAttempts == 0 {
		k.MaxAttempts = 3
	}
	if k.Timeout == 0 {
		k.Timeout = time.Minute
	}
	if k.BackoffBase == 0 {
		k.BackoffBase = time.Second
	}
	if k.BackoffCap == 0 {
		k.BackoffCap = max(time.Minute, k.BackoffBase)
	}
	if k.Visibility == "" {
		k.Visibility = jobs.VisibilityPublic
	}
	if err := k.Check(); err != nil {
		return jobs.Kind{}, err
	}
	if len(k.Schema) > 0 {
		if _, err := jobs.CompileSchema(k.Schema); err != nil {
			return jobs.Kind{}, fmt.Errorf("payload_schema: %w", err)
		}
	}
	b, _ := json.Marshal([]any{k.Description, k.DefaultPriority, k.MaxAttempts, k.Timeout, k.BackoffBase, k.BackoffCap,
		k.Schema, k.Visibility, d.URL, d.Concurrency, d.RatePerSecond})
	sum := sha256.Sum256(b)
	k.Version = "push-" + base64.RawURLEncoding.EncodeToString(sum[:6])
	return k, nil
}

// CallbackToken is the bearer token of job id's attempt on the callback
// (POST /v1/push/callback/{id}/{attempt}/…): an HMAC of the job id and the
// attempt under the server's callback key, so it is good for that attempt
// of that job only, and nothing is stored per delivery.
func CallbackToken(key []byte, id uuid.UUID, attempt int) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("hopper-push-callback\x00" + id.String() + "\x00" + strconv.Itoa(attempt)))
	return "pcb_" + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// CheckCallbackToken reports, in constant time, whether token is job id's
// attempt's.
func CheckCallbackToken(key []byte, id uuid.UUID, attempt int, token string) bool {
	return hmac.Equal([]byte(CallbackToken(key, id, attempt)), []byte(token))
}

// CallbackURL is the callback base of job id's attempt under the
// gateway's public base URL.
func CallbackURL(base string, id uuid.UUID, attempt int) string {
	return strings.TrimSuffix(base, "/") + "/v1/push/callback/" + id.String() + "/" + strconv.Itoa(attempt)
}

// SettingAllowHosts names the allow-list of internal targets.
const SettingAllowHosts = "HOPPER_PUSH_ALLOW_HOSTS"

// Settings are the push settings the gateway and the push worker read.
type Settings struct {
	// AllowHosts lets targets on these internal hosts past the SSRF guard
	// (HOPPER_PUSH_ALLOW_HOSTS: host names, IPs, CIDR ranges).
	AllowHosts webhook.AllowList
	// CallbackURL is the gateways' base URL as targets reach it
	// (HOPPER_PUSH_CALLBACK_URL), sent in Hopper-Callback-Url.
	CallbackURL string
}

// LoadSettings reads the push settings; a bad value is an error naming
// its variable.
func LoadSettings(getenv config.Getenv) (Settings, error) {
	r := config.NewReader(getenv)
	s := Settings{CallbackURL: r.OptionalURL("HOPPER_PUSH_CALLBACK_URL", "http://gateway:8080", "http", "https")}
	if err := r.Err(); err != nil {
		return Settings{}, err
	}
	allow, err := webhook.ParseAllowList(getenv(SettingAllowHosts))
	if err != nil {
		return Settings{}, fmt.Errorf("%s: %w", SettingAllowHosts, err)
	}
	s.AllowHosts = allow
	return s, nil
}
