// Package pushkinds is the store's push-kinds aggregate (migration 00024):
// kinds whose handler is an HTTP endpoint the push worker delivers to.
// A push kind is an ordinary catalogue row (jobstore's kinds, written in
// the same transaction, so the gateways accept it like any kind) plus its
// target, concurrency cap, rate and signing secrets, kept here.
package pushkinds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/signsecrets"
)

// Store reads and writes push kinds. It is safe for concurrent use.
type Store struct {
	db *pg.DB
}

// New returns the push-kinds aggregate over db.
func New(db *pg.DB) *Store { return &Store{db: db} }

// Target is what a push kind adds to its catalogue definition.
type Target struct {
	URL string
	// Concurrency caps the kind's running jobs fleet-wide (0: no cap).
	Concurrency int
	// RatePerSecond caps deliveries started per second fleet-wide (0: none).
	RatePerSecond float64
}

// PushKind is a push kind: its catalogue definition and its target.
type PushKind struct {
	Kind jobs.Kind
	Target
	CreatedAt time.Time
	UpdatedAt time.Time
	// Secrets are the secrets that sign now, newest first, without the
	// secrets themselves.
	Secrets []Secret
}

// Secret is one of a push kind's signing secrets, as listed.
type Secret = signsecrets.Secret

// MaxLiveSecrets bounds a kind's secrets that sign at once: every delivery
// carries one signature per live secret.
const MaxLiveSecrets = 5

// kindSecrets is the table of push kinds' secrets; they start with
// pushsec_, so one pasted in the wrong place is recognisable.
var kindSecrets = signsecrets.Table{Name: "push_kind_secrets", Owner: "kind", Scheme: "pushsec_", MaxLive: MaxLiveSecrets}

// Errors of the aggregate (besides pg.ErrNotFound).
var (
	// ErrKindExists: a kind of that name is in the catalogue already (a
	// push kind, or one a worker service runs).
	ErrKindExists = errors.New("a kind of that name exists")
	// ErrTooManySecrets: the kind has MaxLiveSecrets live secrets.
	ErrTooManySecrets = signsecrets.ErrTooMany
)

// Create records a new push kind — its catalogue row k and target t —
// with a first signing secret, returned in plaintext once. A kind of
// that name already in the catalogue is ErrKindExists.
func (s *Store) Create(ctx context.Context, k jobs.Kind, t Target, now time.Time) (PushKind, string, error) {
	var plaintext string
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var n int64
		if err := tx.Raw(`SELECT count(*) FROM kinds WHERE name = ?`, k.Name).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrKindExists
		}
		if err := jobstore.PublishKindsTx(tx, []jobs.Kind{k}); err != nil {
			return err
		}
		err := tx.Exec(`INSERT INTO push_kinds (name, url, concurrency, rate_per_second, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, k.Name, t.URL, t.Concurrency, t.RatePerSecond, now, now).Error
		if pg.Code(err) == pg.UniqueViolation {
			return ErrKindExists
		}
		if err != nil {
			return err
		}
		_, plaintext, err = signsecrets.Insert(tx, kindSecrets, k.Name, now)
		return err
	})
	if err != nil {
		return PushKind{}, "", fmt.Errorf("create push kind %s: %w", k.Name, err)
	}
	pk, err := s.Get(ctx, k.Name, now)
	return pk, plaintext, err
}

// Update replaces push kind k.Name's catalogue row and target;
// pg.ErrNotFound when there is no such push kind.
func (s *Store) Update(ctx context.Context, k jobs.Kind, t Target, now time.Time) (PushKind, error) {
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE push_kinds SET url = ?, concurrency = ?, rate_per_second = ?, updated_at = ? WHERE name = ?`,
			t.URL, t.Concurrency, t.RatePerSecond, now, k.Name)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return pg.ErrNotFound
		}
		return jobstore.PublishKindsTx(tx, []jobs.Kind{k})
	})
	if err != nil {
		return PushKind{}, fmt.Errorf("update push kind %s: %w", k.Name, err)
	}
	return s.Get(ctx, k.Name, now)
}

// Delete removes push kind name and its catalogue row (its jobs stay);
// pg.ErrNotFound when there is no such push kind.
func (s *Store) Delete(ctx context.Context, name string) error {
	res := s.db.Gorm().WithContext(ctx).Exec(`DELETE FROM kinds WHERE name = ? AND name IN (SELECT name FROM push_kinds)`, name)
	if res.Error != nil {
		return fmt.Errorf("delete push kind %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("delete push kind %s: %w", name, pg.ErrNotFound)
	}
	return nil
}

// targetRow is a push_kinds row.
type targetRow struct {
	Name          string
	URL           string
	Concurrency   int
	RatePerSecond float64
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// List returns every push kind, sorted by name, with the secrets that
// sign as of now.
func (s *Store) List(ctx context.Context, now time.Time) ([]PushKind, error) {
	return s.read(ctx, now)
}

// Get returns push kind name; pg.ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, name string, now time.Time) (PushKind, error) {
	out, err := s.read(ctx, now, name)
	if err != nil {
		return PushKind{}, err
	}
	if len(out) == 0 {
		return PushKind{}, fmt.Errorf("push kind %s: %w", name, pg.ErrNotFound)
	}
	return out[0], nil
}

// read returns the push kinds named (all when none are), sorted by name.
func (s *Store) read(ctx context.Context, now time.Time, names ...string) ([]PushKind, error) {
	q := s.db.Gorm().WithContext(ctx).Table("push_kinds").Order("name")
	if len(names) > 0 {
		q = q.Where("name IN ?", names)
	}
	var rows []targetRow
	if err := q.Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("list push kinds: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	kindNames := make([]string, len(rows))
	for i, r := range rows {
		kindNames[i] = r.Name
	}
	kinds, err := jobstore.ReadKinds(ctx, s.db.SQL(), kindNames...)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]jobs.Kind, len(kinds))
	for _, k := range kinds {
		byName[k.Name] = k
	}
	var secrets []struct {
		Kind string
		Secret
	}
	err = s.db.Gorm().WithContext(ctx).Raw(`SELECT kind, id, prefix, created_at, expires_at FROM push_kind_secrets
		WHERE kind IN ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at DESC, id DESC`, kindNames, now).Scan(&secrets).Error
	if err != nil {
		return nil, fmt.Errorf("list push kind secrets: %w", err)
	}
	out := make([]PushKind, 0, len(rows))
	for _, r := range rows {
		pk := PushKind{Kind: byName[r.Name], Target: Target{URL: r.URL, Concurrency: r.Concurrency, RatePerSecond: r.RatePerSecond},
			CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
		for _, sec := range secrets {
			if sec.Kind == r.Name {
				pk.Secrets = append(pk.Secrets, sec.Secret)
			}
		}
		out = append(out, pk)
	}
	return out, nil
}

// RotateSecret makes a new signing secret for push kind name and returns
// it in plaintext, once. Every older live secret signs on for at most
// overlap (0: stops at once), so the target can move over while
// deliveries carry both signatures. pg.ErrNotFound for an unknown kind,
// ErrTooManySecrets beyond MaxLiveSecrets.
func (s *Store) RotateSecret(ctx context.Context, name string, overlap time.Duration, now time.Time) (Secret, string, error) {
	var (
		plaintext string
		out       Secret
	)
	err := s.db.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The kind's row lock orders concurrent rotations.
		res := tx.Exec(`SELECT 1 FROM push_kinds WHERE name = ? FOR UPDATE`, name)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return pg.ErrNotFound
		}
		var err error
		out, plaintext, err = signsecrets.Rotate(tx, kindSecrets, name, overlap, now)
		return err
	})
	if err != nil {
		return Secret{}, "", fmt.Errorf("rotate secret of push kind %s: %w", name, err)
	}
	return out, plaintext, nil
}

// SigningSecrets returns the secrets that sign push kind name's
// deliveries as of now, newest first.
func (s *Store) SigningSecrets(ctx context.Context, name string, now time.Time) ([][]byte, error) {
	out, err := signsecrets.Signing(ctx, s.db.Gorm(), kindSecrets, name, now)
	if err != nil {
		return nil, fmt.Errorf("push kind %s: %w", name, err)
	}
	return out, nil
}

// CallbackKey is the key of the job-scoped callback tokens, made by the
// migration.
func (s *Store) CallbackKey(ctx context.Context) ([]byte, error) {
	var key string
	if err := s.db.Gorm().WithContext(ctx).Raw(`SELECT callback_key FROM push_settings`).Scan(&key).Error; err != nil {
		return nil, fmt.Errorf("push callback key: %w", err)
	}
	if key == "" {
		return nil, fmt.Errorf("push callback key: %w", pg.ErrNotFound)
	}
	return []byte(key), nil
}

// RunningJobs counts kind's running jobs (the concurrency cap's count;
// an index on running jobs by kind keeps it cheap).
func (s *Store) RunningJobs(ctx context.Context, kind string) (int, error) {
	var n int
	err := s.db.Gorm().WithContext(ctx).Raw(`SELECT count(*) FROM jobs WHERE kind = ? AND state = 'running'`, kind).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("running jobs of %s: %w", kind, err)
	}
	return n, nil
}
