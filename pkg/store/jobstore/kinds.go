package jobstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// kindRow is a catalogue row as ReadKinds scans it.
type kindRow struct {
	Name            string
	Queue           string
	Service         string
	Description     string
	DefaultPriority int
	MaxAttempts     int
	TimeoutMS       int64
	MaxTimeoutMS    int64
	BackoffBaseMS   int64
	BackoffCapMS    int64
	PayloadSchema   []byte
	Version         string
	Visibility      string
}

func (r kindRow) kind() jobs.Kind {
	k := jobs.Kind{
		Name: r.Name, Queue: r.Queue, Service: r.Service, Description: r.Description,
		DefaultPriority: jobs.Priority(r.DefaultPriority), MaxAttempts: r.MaxAttempts,
		Timeout: time.Duration(r.TimeoutMS) * time.Millisecond, MaxTimeout: time.Duration(r.MaxTimeoutMS) * time.Millisecond,
		BackoffBase: time.Duration(r.BackoffBaseMS) * time.Millisecond, BackoffCap: time.Duration(r.BackoffCapMS) * time.Millisecond,
		Version: r.Version, Visibility: jobs.Visibility(r.Visibility),
	}
	if len(r.PayloadSchema) > 0 {
		k.Schema = json.RawMessage(r.PayloadSchema)
	}
	return k
}

// PublishKinds records the kinds a worker service runs in the catalogue,
// in one transaction. A kind already there with the same version and
// service is left alone, so re-publishing at every start changes nothing
// and the gateways' change check (KindsVersion) stays quiet; a changed
// definition replaces the row: the last worker to start wins.
func (s *Store) PublishKinds(ctx context.Context, kinds []jobs.Kind) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return PublishKindsTx(tx, kinds) })
	if err != nil {
		return fmt.Errorf("publish kinds: %w", err)
	}
	return nil
}

// PublishKindsTx is PublishKinds in the caller's transaction tx, for an
// aggregate that writes a kind together with rows of its own (a push
// kind's target and secret).
func PublishKindsTx(tx *gorm.DB, kinds []jobs.Kind) error {
	for _, k := range kinds {
		var schema any
		if len(k.Schema) > 0 {
			schema = []byte(k.Schema)
		}
		err := tx.Exec(`INSERT INTO kinds (name, queue, service, description, default_priority, max_attempts,
					timeout_ms, max_timeout_ms, backoff_base_ms, backoff_cap_ms, payload_schema, version, visibility)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?, coalesce(nullif(?, ''), 'public'))
				ON CONFLICT (name) DO UPDATE SET queue = EXCLUDED.queue, service = EXCLUDED.service,
					description = EXCLUDED.description, default_priority = EXCLUDED.default_priority,
					max_attempts = EXCLUDED.max_attempts, timeout_ms = EXCLUDED.timeout_ms,
					max_timeout_ms = EXCLUDED.max_timeout_ms, backoff_base_ms = EXCLUDED.backoff_base_ms,
					backoff_cap_ms = EXCLUDED.backoff_cap_ms, payload_schema = EXCLUDED.payload_schema,
					version = EXCLUDED.version, visibility = EXCLUDED.visibility, updated_at = clock_timestamp()
				WHERE kinds.version IS DISTINCT FROM EXCLUDED.version OR kinds.service IS DISTINCT FROM EXCLUDED.service
					OR kinds.visibility IS DISTINCT FROM EXCLUDED.visibility`,
			k.Name, k.Queue, k.Service, k.Description, int(k.DefaultPriority), k.MaxAttempts,
			k.Timeout.Milliseconds(), k.MaxTimeout.Milliseconds(), k.BackoffBase.Milliseconds(), k.BackoffCap.Milliseconds(),
			schema, k.Version, string(k.Visibility)).Error
		if err != nil {
			return fmt.Errorf("kind %s: %w", k.Name, err)
		}
	}
	return nil
}

// ListKinds returns the catalogue, sorted by name.
func (s *Store) ListKinds(ctx context.Context) ([]jobs.Kind, error) {
	return ReadKinds(ctx, s.sql)
}

const kindColumns = `name, queue, service, description, default_priority, max_attempts,
	timeout_ms, max_timeout_ms, backoff_base_ms, backoff_cap_ms, payload_schema, version, visibility`

// ReadKinds reads the catalogue with q (a pool, or a caller's transaction:
// hopper.EnqueueTx checks a submission against the kinds as its own
// transaction sees them): the kinds named, or all when names is empty,
// sorted by name. A name not in the catalogue is left out.
func ReadKinds(ctx context.Context, q pg.Querier, names ...string) ([]jobs.Kind, error) {
	query, args := `SELECT `+kindColumns+` FROM kinds ORDER BY name`, []any(nil)
	if len(names) > 0 {
		query, args = `SELECT `+kindColumns+` FROM kinds WHERE name = ANY($1::text[]) ORDER BY name`, []any{names}
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	defer rows.Close()
	var out []jobs.Kind
	for rows.Next() {
		var r kindRow
		err := rows.Scan(&r.Name, &r.Queue, &r.Service, &r.Description, &r.DefaultPriority, &r.MaxAttempts,
			&r.TimeoutMS, &r.MaxTimeoutMS, &r.BackoffBaseMS, &r.BackoffCapMS, &r.PayloadSchema, &r.Version, &r.Visibility)
		if err != nil {
			return nil, fmt.Errorf("list kinds: %w", err)
		}
		out = append(out, r.kind())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list kinds: %w", err)
	}
	return out, nil
}

// KindsVersion changes whenever a kind is added, changed or deleted, so a
// reader polls it instead of the whole catalogue.
func (s *Store) KindsVersion(ctx context.Context) (string, error) {
	var v string
	err := s.db.WithContext(ctx).Raw(`SELECT count(*)::text || '/' ||
		coalesce((extract(epoch FROM max(updated_at)) * 1000000)::bigint::text, '0') FROM kinds`).Scan(&v).Error
	if err != nil {
		return "", fmt.Errorf("kinds version: %w", err)
	}
	return v, nil
}

// DeleteKind removes a kind from the catalogue; its jobs stay. A worker
// running it publishes it again at its next start. pg.ErrNotFound when there
// is no such kind.
func (s *Store) DeleteKind(ctx context.Context, name string) error {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM kinds WHERE name = ?`, name)
	if res.Error != nil {
		return fmt.Errorf("delete kind %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		return pg.ErrNotFound
	}
	return nil
}

// KindWorkers counts, per kind, the worker instances seen within
// seenWithin that run it.
func (s *Store) KindWorkers(ctx context.Context, seenWithin time.Duration) (map[string]int, error) {
	var rows []struct {
		Kind string
		N    int
	}
	err := s.db.WithContext(ctx).Raw(`SELECT k AS kind, count(*) AS n FROM workers, unnest(kinds) AS k
		WHERE last_seen_at > now() - make_interval(secs => ?::float8) GROUP BY k`, seenWithin.Seconds()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count workers per kind: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.Kind] = r.N
	}
	return out, nil
}
