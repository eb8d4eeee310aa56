// Package catalog is a gateway's live view of the kind catalogue: the
// kinds the worker services published to Postgres, read again whenever
// the catalogue changes, so a kind is accepted within a second or so of
// its first worker starting, with no gateway restart.
package catalog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/clock"
	"github.com/hopperq/hopper/pkg/jobs"
)

// Store is what the catalogue reads.
type Store interface {
	// KindsVersion changes whenever a kind is added, changed or deleted.
	KindsVersion(ctx context.Context) (string, error)
	ListKinds(ctx context.Context) ([]jobs.Kind, error)
}

// DefaultEvery is how often the catalogue checks for changes.
const DefaultEvery = time.Second

// Catalog implements jobs.Catalog over the catalogue in Postgres. Its
// lookups never block: they read the last snapshot.
type Catalog struct {
	store Store
	seed  *jobs.Registry
	every time.Duration
	log   *zap.Logger

	snap atomic.Pointer[snapshot]

	mu          sync.Mutex // serialises refreshes
	version     string     // of the snapshot
	lastRefresh time.Time
}

// MissRefreshEvery bounds the refreshes that lookups of unknown kinds
// trigger (RefreshMissing): a client asking for kinds that do not exist
// costs the database at most this often.
const MissRefreshEvery = 100 * time.Millisecond

type snapshot struct {
	kinds map[string]jobs.Kind
	names []string
}

func (s *snapshot) Lookup(name string) (jobs.Kind, bool) {
	k, ok := s.kinds[name]
	return k, ok
}

func (s *snapshot) Names() []string { return slices.Clone(s.names) }

// Merge returns the catalogue of seed and published by the rule a Catalog
// applies (New), as a fixed snapshot: for callers that read the published
// kinds themselves, as hopper.EnqueueTx does in its caller's transaction.
// A nil log discards the warnings about kinds left out.
func Merge(seed *jobs.Registry, published []jobs.Kind, log *zap.Logger) jobs.Catalog {
	if log == nil {
		log = zap.NewNop()
	}
	return merge(seed, published, log)
}

// New returns a catalogue holding seed until its first Refresh. Kinds of
// seed keep their definition (and their Go payload checks) over a
// published one of the same name; the published one adds its service,
// version and schema to what GET /v1/kinds shows.
func New(st Store, seed *jobs.Registry, log *zap.Logger, every time.Duration) *Catalog {
	if every <= 0 {
		every = DefaultEvery
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Catalog{store: st, seed: seed, every: every, log: log}
	c.snap.Store(merge(seed, nil, log))
	return c
}

// Lookup returns the kind named name.
func (c *Catalog) Lookup(name string) (jobs.Kind, bool) {
	return c.snap.Load().Lookup(name)
}

// Names lists the accepted kind names, sorted.
func (c *Catalog) Names() []string {
	return c.snap.Load().Names()
}

// Kinds lists the accepted kinds, sorted by name.
func (c *Catalog) Kinds() []jobs.Kind {
	s := c.snap.Load()
	out := make([]jobs.Kind, len(s.names))
	for i, n := range s.names {
		out[i] = s.kinds[n]
	}
	return out
}

// RefreshMissing refreshes the catalogue when name is not in it, so a kind
// published a moment ago is accepted at once rather than at the next
// tick. Refreshes it triggers are at least MissRefreshEvery apart: within
// that time of the last one it waits for the rest of the interval, so a
// kind published just after a refresh is still seen, and a client asking
// for kinds that do not exist costs the database at most one read per
// interval. It reports whether name is known afterwards.
func (c *Catalog) RefreshMissing(ctx context.Context, name string) bool {
	if _, ok := c.Lookup(name); ok {
		return true
	}
	asked := time.Now()
	c.mu.Lock()
	wait := MissRefreshEvery - asked.Sub(c.lastRefresh)
	c.mu.Unlock()
	if clock.Sleep(ctx, wait) != nil {
		return false
	}
	c.mu.Lock()
	fresh := c.lastRefresh.After(asked) // another miss refreshed since we asked
	c.mu.Unlock()
	if !fresh {
		if err := c.Refresh(ctx); err != nil {
			c.log.Warn("kind catalogue not refreshed", zap.Error(err))
		}
	}
	_, ok := c.Lookup(name)
	return ok
}

// Queues lists the queues of the accepted kinds, sorted.
func (c *Catalog) Queues() []string {
	s := c.snap.Load()
	var out []string
	for _, k := range s.kinds {
		if !slices.Contains(out, k.Queue) {
			out = append(out, k.Queue)
		}
	}
	slices.Sort(out)
	return out
}

// Refresh reads the catalogue again if it changed since the last read.
func (c *Catalog) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastRefresh = time.Now()
	v, err := c.store.KindsVersion(ctx)
	if err != nil {
		return err
	}
	if v == c.version {
		return nil
	}
	published, err := c.store.ListKinds(ctx)
	if err != nil {
		return err
	}
	c.snap.Store(merge(c.seed, published, c.log))
	c.version = v
	return nil
}

// Run refreshes the catalogue every interval until ctx ends. A failed
// read keeps the last snapshot and is retried at the next tick.
func (c *Catalog) Run(ctx context.Context) error {
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("kind catalogue not refreshed; keeping the last one", zap.Error(err))
		}
		if err := clock.Sleep(ctx, c.every); err != nil {
			return nil
		}
	}
}

// merge builds the snapshot of the seed and the published kinds. A
// published kind whose definition does not hold (it cannot, unless
// written by hand) is left out with a warning rather than accepted
// unchecked.
func merge(seed *jobs.Registry, published []jobs.Kind, log *zap.Logger) *snapshot {
	s := &snapshot{kinds: map[string]jobs.Kind{}}
	if seed != nil {
		for _, k := range seed.Kinds() {
			s.kinds[k.Name] = k
		}
	}
	for _, k := range published {
		if seeded, ok := s.kinds[k.Name]; ok {
			seeded.Service, seeded.Version, seeded.Description = k.Service, k.Version, k.Description
			if len(seeded.Schema) == 0 {
				seeded.Schema = k.Schema
			}
			s.kinds[k.Name] = seeded
			continue
		}
		if err := prepare(&k); err != nil {
			log.Warn("published kind left out of the catalogue", zap.String("kind", k.Name), zap.Error(err))
			continue
		}
		s.kinds[k.Name] = k
	}
	for n := range s.kinds {
		s.names = append(s.names, n)
	}
	slices.Sort(s.names)
	return s
}

// prepare checks a published kind and compiles its payload schema.
func prepare(k *jobs.Kind) error {
	if err := k.Check(); err != nil {
		return err
	}
	if len(k.Schema) == 0 {
		return nil
	}
	check, err := compile(k.Schema)
	if err != nil {
		return fmt.Errorf("kind %s: %w", k.Name, err)
	}
	k.CheckPayload = check
	return nil
}

// maxCompiled bounds the compiled-schema cache; a catalogue holds far
// fewer schemas, so reaching it means old versions piled up.
const maxCompiled = 256

// compiled caches compiled schemas by content: a gateway compiles the
// catalogue's schemas again at every change of any kind, and
// hopper.EnqueueTx at every call, while schemas themselves rarely change.
// A compiled schema is safe for concurrent use.
var compiled = struct {
	sync.Mutex
	checks map[[sha256.Size]byte]func([]byte) error
}{checks: map[[sha256.Size]byte]func([]byte) error{}}

// compile is jobs.CompileSchema through the cache.
func compile(schema []byte) (func([]byte) error, error) {
	key := sha256.Sum256(schema)
	compiled.Lock()
	check, ok := compiled.checks[key]
	compiled.Unlock()
	if ok {
		return check, nil
	}
	check, err := jobs.CompileSchema(schema)
	if err != nil {
		return nil, err
	}
	compiled.Lock()
	if len(compiled.checks) >= maxCompiled {
		clear(compiled.checks)
	}
	compiled.checks[key] = check
	compiled.Unlock()
	return check, nil
}
