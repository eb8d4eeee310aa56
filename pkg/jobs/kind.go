package jobs

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kind describes one kind of job: where it is routed and how it runs.
type Kind struct {
	Name            string        // routing key, e.g. "chat.message"
	Queue           string        // domain queue without prefix, e.g. "chat"
	DefaultPriority Priority      // used when a submit names none
	MaxAttempts     int           // attempts before the job fails for good
	Timeout         time.Duration // per-attempt deadline
	MaxTimeout      time.Duration // upper bound for a per-job timeout override
	BackoffBase     time.Duration // first retry delay cap (full jitter)
	BackoffCap      time.Duration // longest retry delay
	// CheckPayload, when set, validates the payload at submit, so a
	// malformed one is a 422 rather than a failed job. It returns a
	// *ValidationError naming the payload field.
	CheckPayload func(payload []byte) error

	// What the catalogue tells about a kind (GET /v1/kinds).
	Service     string          // the worker service that published it
	Description string          // one line for people
	Schema      json.RawMessage // the payload's JSON Schema; nil: any object
	Version     string          // changes whenever the definition does

	// Visibility says who may submit the kind through the API: anyone
	// (public, the default), admins only, or no client at all (internal:
	// only the platform creates its jobs — follow-ups, schedules, the
	// gateway's own routes).
	Visibility Visibility
}

// Visibility says who may submit a kind's jobs through the API.
type Visibility string

// The visibilities; the zero value is public.
const (
	VisibilityPublic   Visibility = "public"
	VisibilityAdmin    Visibility = "admin"
	VisibilityInternal Visibility = "internal"
)

// ParseVisibility accepts "", public, admin and internal ("" is public).
func ParseVisibility(s string) (Visibility, error) {
	switch v := Visibility(s); v {
	case "", VisibilityPublic:
		return VisibilityPublic, nil
	case VisibilityAdmin, VisibilityInternal:
		return v, nil
	}
	return "", fmt.Errorf("visibility %q is not public, admin or internal", s)
}

// Submittable reports whether a client may submit a kind of visibility v
// through the API, as an admin or not. Internal kinds are never
// submittable: the platform creates their jobs itself.
func (v Visibility) Submittable(admin bool) bool {
	switch v {
	case "", VisibilityPublic:
		return true
	case VisibilityAdmin:
		return admin
	}
	return false
}

// Catalog is where the kinds a deployment accepts are looked up: a fixed
// Registry, or the gateway's live view of the catalogue in Postgres.
type Catalog interface {
	// Lookup returns the kind named name.
	Lookup(name string) (Kind, bool)
	// Names lists the accepted kind names, sorted.
	Names() []string
}

// Check reports whether k is a complete definition, and fills the
// defaults of the optional durations.
func (k *Kind) Check() error {
	switch {
	case !ValidKindName(k.Name):
		return fmt.Errorf("kind name %q is invalid (want letters, digits, '.', '-', '_', ':' and at most %d bytes)", k.Name, maxKindName)
	case k.Queue == "" || strings.ContainsAny(k.Queue, ".#* "):
		return fmt.Errorf("kind %s: queue %q is invalid", k.Name, k.Queue)
	case k.MaxAttempts < 1 || k.MaxAttempts > MaxAttemptsLimit:
		return fmt.Errorf("kind %s: max attempts must be between 1 and %d", k.Name, MaxAttemptsLimit)
	case k.Timeout <= 0:
		return fmt.Errorf("kind %s: timeout must be positive", k.Name)
	case k.DefaultPriority > MaxPriority:
		return fmt.Errorf("kind %s: default priority %d above %d", k.Name, k.DefaultPriority, MaxPriority)
	}
	v, err := ParseVisibility(string(k.Visibility))
	if err != nil {
		return fmt.Errorf("kind %s: %w", k.Name, err)
	}
	k.Visibility = v
	if k.MaxTimeout < k.Timeout {
		k.MaxTimeout = k.Timeout
	}
	if k.BackoffBase <= 0 {
		k.BackoffBase = time.Second
	}
	if k.BackoffCap < k.BackoffBase {
		k.BackoffCap = k.BackoffBase
	}
	return nil
}

// maxKindName bounds a kind name (it is a routing key and a label).
const maxKindName = 128

// ValidKindName reports whether name can name a kind: a routing key
// without topic wildcards.
func ValidKindName(name string) bool {
	if name == "" || len(name) > maxKindName || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return false
	}
	for _, c := range name {
		ok := c == '.' || c == '-' || c == '_' || c == ':' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// Registry is the set of kinds a deployment accepts. It is a value built at
// start, not a global: tests and services each build their own.
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry builds a registry from kinds, rejecting duplicates and
// incomplete definitions.
func NewRegistry(kinds ...Kind) (*Registry, error) {
	r := &Registry{kinds: make(map[string]Kind, len(kinds))}
	for _, k := range kinds {
		if err := r.add(k); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Registry) add(k Kind) error {
	if err := k.Check(); err != nil {
		return err
	}
	if _, dup := r.kinds[k.Name]; dup {
		return fmt.Errorf("kind %s registered twice", k.Name)
	}
	r.kinds[k.Name] = k
	return nil
}

// Kinds lists the registered kinds, sorted by name.
func (r *Registry) Kinds() []Kind {
	out := make([]Kind, 0, len(r.kinds))
	for _, n := range r.Names() {
		out = append(out, r.kinds[n])
	}
	return out
}

// Lookup returns the kind named name.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the registered kind names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Kind names that every worker can run (tests, benchmarks, smoke checks).
const (
	KindNoop  = "system.noop"
	KindSleep = "system.sleep"
)

// DefaultKinds are the platform's own kinds, which every worker runs
// (system.noop, system.sleep). Every other kind comes from the catalogue
// its worker service publishes.
func DefaultKinds() []Kind {
	return []Kind{
		{Name: KindNoop, Queue: "maintenance", DefaultPriority: PriorityNormal, MaxAttempts: 3,
			Timeout: 30 * time.Second, MaxTimeout: time.Minute, BackoffBase: time.Second, BackoffCap: time.Minute,
			Description: "does nothing and succeeds (smoke tests, benchmarks)"},
		{Name: KindSleep, Queue: "maintenance", DefaultPriority: PriorityNormal, MaxAttempts: 3,
			Timeout: 10 * time.Minute, MaxTimeout: time.Hour, BackoffBase: time.Second, BackoffCap: time.Minute,
			Description: "sleeps payload.ms milliseconds, reporting progress (tests)"},
	}
}

// DefaultRegistry returns a registry of DefaultKinds.
func DefaultRegistry() (*Registry, error) {
	return NewRegistry(DefaultKinds()...)
}
