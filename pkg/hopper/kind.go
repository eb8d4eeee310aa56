package hopper

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/hopperq/hopper/pkg/jobs"
)

// Priority is a job's priority, 0 (lowest) to 5 (highest).
type Priority = jobs.Priority

// The named priorities the API accepts ("low", "normal", "high").
const (
	PriorityLow    = jobs.PriorityLow
	PriorityNormal = jobs.PriorityNormal
	PriorityHigh   = jobs.PriorityHigh
)

// Visibility says who may submit a kind's jobs through the API.
type Visibility = jobs.Visibility

// The visibilities of a kind.
const (
	// VisibilityPublic: any user may submit it (the default).
	VisibilityPublic = jobs.VisibilityPublic
	// VisibilityAdmin: only users with the admin role may submit it; jobs
	// the platform creates (schedules, follow-ups) need no role.
	VisibilityAdmin = jobs.VisibilityAdmin
	// VisibilityInternal: no client may submit it (403); only the platform
	// creates its jobs — a schedule, a follow-up, a gateway route, or a
	// service's own transactional enqueue (EnqueueTx).
	VisibilityInternal = jobs.VisibilityInternal
)

// Defaults of a KindSpec's unset fields.
const (
	DefaultMaxAttempts = 3
	DefaultTimeout     = time.Minute
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = time.Minute
)

// KindSpec defines a kind of job: how it is routed and how it runs. Only
// Name is required.
type KindSpec struct {
	// Name is the kind's name and routing key, e.g. "leaderboard.recalculate":
	// letters, digits, '.', '-', '_' and ':'.
	Name string
	// Queue is the queue the kind is bound to; default: Name up to its
	// first '.' ("leaderboard").
	Queue string
	// Description is one line for people (GET /v1/kinds, the dashboard).
	Description string
	// DefaultPriority applies when a submit names none (default normal).
	DefaultPriority Priority
	// MaxAttempts is how many times a job runs before it fails for good
	// (default 3).
	MaxAttempts int
	// Timeout bounds one attempt (default 1 minute); a submit may ask for
	// up to MaxTimeout (default Timeout).
	Timeout    time.Duration
	MaxTimeout time.Duration
	// BackoffBase and BackoffCap shape the wait before a retry:
	// exponential with full jitter from BackoffBase (default 1s) up to
	// BackoffCap (default 1 minute).
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// Schema is the payload's JSON Schema, which the gateway checks every
	// submit against (422 naming the field). Unset, a typed handler's is
	// derived from its payload type (fields without omitempty are
	// required, unknown fields refused); a raw handler accepts any object.
	Schema json.RawMessage
	// Version names this definition; default: a hash of it. The catalogue
	// keeps the definition of the last worker to start with a new version.
	Version string
	// Visibility says who may submit the kind through the API: public
	// (default), admin or internal. Hide a kind that acts beyond its
	// submitter's own data (a sweep over every tenant) or that only makes
	// sense as part of a flow the platform drives.
	Visibility Visibility
}

// Args is a payload type that names its kind, so Handle needs no
// KindSpec argument (River's JobArgs).
type Args interface {
	Kind() KindSpec
}

// kind checks the spec, fills its defaults and turns it into the
// platform's kind definition.
func (s KindSpec) kind(service string) (jobs.Kind, error) {
	if s.Queue == "" {
		s.Queue, _, _ = strings.Cut(s.Name, ".")
	}
	if s.DefaultPriority == 0 {
		s.DefaultPriority = PriorityNormal
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.BackoffBase == 0 {
		s.BackoffBase = DefaultBackoffBase
	}
	if s.BackoffCap == 0 {
		s.BackoffCap = max(DefaultBackoffCap, s.BackoffBase)
	}
	k := jobs.Kind{Name: s.Name, Queue: s.Queue, DefaultPriority: s.DefaultPriority, MaxAttempts: s.MaxAttempts,
		Timeout: s.Timeout, MaxTimeout: s.MaxTimeout, BackoffBase: s.BackoffBase, BackoffCap: s.BackoffCap,
		Service: service, Description: s.Description, Schema: s.Schema, Version: s.Version, Visibility: s.Visibility}
	if err := k.Check(); err != nil {
		return jobs.Kind{}, err
	}
	if len(k.Schema) > 0 {
		check, err := jobs.CompileSchema(k.Schema)
		if err != nil {
			return jobs.Kind{}, fmt.Errorf("kind %s: %w", k.Name, err)
		}
		k.CheckPayload = check
	}
	if k.Version == "" {
		k.Version = version(k)
	}
	return k, nil
}

// version hashes everything the catalogue stores of k. A public kind
// hashes as it did before kinds had a visibility, so upgrading does not
// change every published version.
func version(k jobs.Kind) string {
	fields := []any{k.Name, k.Queue, k.Service, k.Description, k.DefaultPriority, k.MaxAttempts,
		k.Timeout, k.MaxTimeout, k.BackoffBase, k.BackoffCap, k.Schema}
	if k.Visibility != jobs.VisibilityPublic {
		fields = append(fields, k.Visibility)
	}
	b, _ := json.Marshal(fields)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

// SchemaFor derives the payload JSON Schema of T as Handle does: an
// object with T's JSON fields, those without omitempty required and no
// others allowed. Types that are not structs give {"type": "object"}.
func SchemaFor[T any]() (json.RawMessage, error) {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return json.RawMessage(`{"type":"object"}`), nil
	}
	r := &jsonschema.Reflector{DoNotReference: true, ExpandedStruct: true}
	s := r.ReflectFromType(t)
	s.Version, s.ID = "", ""
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", t, err)
	}
	return b, nil
}
