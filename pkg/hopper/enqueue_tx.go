package hopper

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/catalog"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// DBTX is what EnqueueTx needs of a database handle on Hopper's Postgres:
// a *sql.Tx — the point: the job commits or rolls back with the caller's
// other writes — or a *sql.Conn or *sql.DB, where each statement commits
// on its own. The handle must come from the pgx driver
// (github.com/jackc/pgx/v5/stdlib: sql.Open("pgx", url), or
// stdlib.OpenDBFromPool for a pgxpool), which encodes the Go slices the
// statements pass as Postgres arrays, and work in Hopper's schema (its
// search_path), as the gateway's connections do.
type DBTX interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// ValidationError is a submission EnqueueTx or EnqueueManyTx refused
// before writing anything: an unknown kind, a payload that breaks the
// kind's JSON Schema, an option out of range. It matches ErrUnprocessable,
// as the gateway's 422 for the same submission does.
type ValidationError struct {
	// Index is the item at fault in EnqueueManyTx (0 for EnqueueTx).
	Index int
	// Field names what is wrong: "kind", "payload.width", "max_attempts"…
	Field   string
	Message string
	// ValidKinds lists the catalogue's kinds when the kind is unknown.
	ValidKinds []string

	inBatch bool
}

func (e *ValidationError) Error() string {
	if e.inBatch {
		return fmt.Sprintf("jobs[%d]: %s: %s", e.Index, e.Field, e.Message)
	}
	return e.Field + ": " + e.Message
}

// Is matches ErrUnprocessable.
func (e *ValidationError) Is(target error) bool { return target == ErrUnprocessable }

// EnqueueTx stores a job of kind with payload in tx, on Hopper's Postgres
// database: the job exists exactly when the caller's other writes in tx
// do, and no worker sees it before tx commits. At the commit the
// gateway's dispatcher is told, and publishes it at once; should none
// hear (no gateway running, a crash in between), the outbox publishes it
// within seconds of a gateway being up.
//
// The submission is checked as the gateway checks it, before anything is
// written: the kind's defaults and payload JSON Schema come from the kind
// catalogue as tx sees it, and a refusal is a *ValidationError. owner is
// the Hopper user the job belongs to (a missing one matches ErrNotFound);
// the job counts against the owner's fairness cap, but the plan's hourly
// quota and priority bounds, which guard the public API, are not
// applied: like the database, EnqueueTx trusts its caller. With
// WithIdempotencyKey, a key the owner already used returns that job
// (Replayed), or an error matching ErrConflict when its kind or payload
// differ.
//
// An error from Postgres leaves tx aborted, as any failed statement does:
// roll it back.
func EnqueueTx(ctx context.Context, tx DBTX, owner uuid.UUID, kind string, payload any, opts ...EnqueueOption) (EnqueueResult, error) {
	cfg, err := buildSubmit(kind, payload, opts)
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("hopper: %w", err)
	}
	if err := checkIdempotencyKey(cfg.idempotencyKey); err != nil {
		return EnqueueResult{}, fmt.Errorf("hopper: enqueue %s: %w", kind, err)
	}
	specs, err := txSpecs(ctx, tx, []submitRequest{cfg.req}, false)
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("hopper: enqueue %s: %w", kind, err)
	}
	stored, err := jobstore.EnqueueTx(ctx, tx,
		[]jobstore.NewJob{{OwnerID: owner, Spec: specs[0], IdempotencyKey: cfg.idempotencyKey}}, time.Now())
	if err != nil {
		return EnqueueResult{}, fmt.Errorf("hopper: enqueue %s: %w", kind, storeError(owner, err))
	}
	job, created := stored[0].Job, stored[0].Created
	res := EnqueueResult{ID: job.ID.String(), State: JobState(job.State), Replayed: !created}
	if !created && (job.Kind != specs[0].Kind.Name || !sameJSON(job.Payload, specs[0].Payload)) {
		return EnqueueResult{}, fmt.Errorf("hopper: enqueue %s: idempotency key %q already names job %s, of another kind or payload: %w",
			kind, cfg.idempotencyKey, job.ID, ErrConflict)
	}
	return res, nil
}

// EnqueueManyTx stores up to MaxBatchItems jobs in tx in one statement,
// as EnqueueTx stores one: all of them exist if tx commits, none if it
// rolls back, and the results are in items' order. A bad item refuses
// the batch with a *ValidationError whose Index names it. Items take no
// idempotency key.
func EnqueueManyTx(ctx context.Context, tx DBTX, owner uuid.UUID, items []BatchItem) ([]EnqueueResult, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if len(items) > MaxBatchItems {
		return nil, fmt.Errorf("hopper: enqueue batch: %d jobs, limit %d: %w", len(items), MaxBatchItems, ErrUnprocessable)
	}
	reqs, err := batchRequests(items)
	if err != nil {
		return nil, err
	}
	specs, err := txSpecs(ctx, tx, reqs, true)
	if err != nil {
		return nil, fmt.Errorf("hopper: enqueue batch: %w", err)
	}
	batch := make([]jobstore.NewJob, len(specs))
	for i, spec := range specs {
		batch[i] = jobstore.NewJob{OwnerID: owner, Spec: spec}
	}
	created, err := jobstore.EnqueueTx(ctx, tx, batch, time.Now())
	if err != nil {
		return nil, fmt.Errorf("hopper: enqueue batch of %d: %w", len(items), storeError(owner, err))
	}
	out := make([]EnqueueResult, len(created))
	for i, r := range created {
		out[i] = EnqueueResult{ID: r.Job.ID.String(), State: JobState(r.Job.State)}
	}
	return out, nil
}

// builtinKinds are the platform's own kinds, which a gateway accepts
// before (and beside) what the workers publish: the catalogue's seed.
var builtinKinds = sync.OnceValues(jobs.DefaultRegistry)

// txSpecs validates reqs against the catalogue as tx sees it (its kinds
// table over the built-in kinds, merged as a gateway merges them), filling
// the kinds' defaults. Only the kinds named are read, unless one is
// missing: then all, so the error can list them.
func txSpecs(ctx context.Context, tx DBTX, reqs []submitRequest, inBatch bool) ([]jobs.Spec, error) {
	seed, err := builtinKinds()
	if err != nil {
		return nil, fmt.Errorf("built-in kinds: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.Kind != "" && !seen[r.Kind] {
			seen[r.Kind] = true
			names = append(names, r.Kind)
		}
	}
	var published []jobs.Kind
	if len(names) > 0 {
		if published, err = jobstore.ReadKinds(ctx, tx, names...); err != nil {
			return nil, err
		}
	}
	cat := catalog.Merge(seed, published, nil)
	for _, n := range names {
		if _, ok := cat.Lookup(n); !ok {
			if published, err = jobstore.ReadKinds(ctx, tx); err != nil {
				return nil, err
			}
			cat = catalog.Merge(seed, published, nil)
			break
		}
	}
	specs := make([]jobs.Spec, len(reqs))
	for i, r := range reqs {
		spec, err := jobs.Validate(cat, r.platform())
		if err != nil {
			return nil, validationError(err, cat, i, inBatch)
		}
		specs[i] = spec
	}
	return specs, nil
}

// platform is r as the platform's validation takes it.
func (r submitRequest) platform() jobs.SubmitRequest {
	out := jobs.SubmitRequest{Kind: r.Kind, Payload: r.Payload, Priority: r.Priority, RunAt: r.RunAt,
		MaxAttempts: r.MaxAttempts, WebhookURL: r.WebhookURL, NotifyEmail: r.NotifyEmail}
	if r.Timeout != nil {
		// A NaN or infinity becomes a number JSON refuses, and so a
		// validation error rather than no timeout.
		out.Timeout = json.RawMessage(strconv.FormatFloat(*r.Timeout, 'f', -1, 64))
	}
	return out
}

// validationError turns the platform's refusal into a *ValidationError.
func validationError(err error, cat jobs.Catalog, index int, inBatch bool) error {
	var ve *jobs.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &ValidationError{Index: index, Field: ve.Field, Message: ve.Message, inBatch: inBatch}
	if ve.UnknownKind {
		out.ValidKinds = cat.Names()
	}
	return out
}

// checkIdempotencyKey applies the gateway's rules to a key: printable,
// at most 255 bytes, none of the prefixes of keys Hopper gives its own
// jobs.
func checkIdempotencyKey(key string) error {
	if key == "" {
		return nil
	}
	if err := jobs.ValidateIdempotencyKey(key); err != nil {
		return validationError(err, nil, 0, false)
	}
	for _, p := range jobstore.ReservedKeyPrefixes {
		if strings.HasPrefix(key, p) {
			return &ValidationError{Field: "idempotency_key", Message: "the prefixes " +
				strings.Join(jobstore.ReservedKeyPrefixes, ", ") + " are reserved"}
		}
	}
	return nil
}

// storeError names a missing owner with ErrNotFound.
func storeError(owner uuid.UUID, err error) error {
	if errors.Is(err, pg.ErrNotFound) {
		return fmt.Errorf("owner %s is not a Hopper user: %w", owner, ErrNotFound)
	}
	return err
}

// sameJSON reports whether a and b encode the same value.
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
