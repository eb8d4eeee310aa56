package accounts

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// WorkerTokenScheme starts every worker token (API keys start with
// hop_), so the gateway tells the two apart before any lookup.
const WorkerTokenScheme = "hwt_"

// WorkerToken is the credential of external workers speaking the pull
// protocol (migration 00022): it may register kinds of, and claim jobs
// from, its queues, and touch only the jobs it claimed. It is no user:
// it cannot submit or read jobs.
type WorkerToken struct {
	ID          uuid.UUID  `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Queues      []string   `json:"queues"`
	MaxInFlight int        `json:"max_in_flight"`
	CreatedAt   time.Time  `json:"created_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Allows reports whether the token's scope holds queue.
func (t WorkerToken) Allows(queue string) bool {
	for _, q := range t.Queues {
		if q == queue {
			return true
		}
	}
	return false
}

const workerTokenColumns = `id, name, prefix, array_to_json(queues)::text, max_in_flight, created_at, revoked_at`

func scanWorkerToken(row interface{ Scan(...any) error }) (WorkerToken, error) {
	var (
		t      WorkerToken
		queues string
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Prefix, &queues, &t.MaxInFlight, &t.CreatedAt, &t.RevokedAt); err != nil {
		return WorkerToken{}, err
	}
	if err := json.Unmarshal([]byte(queues), &t.Queues); err != nil {
		return WorkerToken{}, fmt.Errorf("queues: %w", err)
	}
	return t, nil
}

// CreateWorkerToken issues a token and returns it with its plaintext,
// which is never stored and cannot be shown again.
func (s *Store) CreateWorkerToken(ctx context.Context, name string, queues []string, maxInFlight int) (WorkerToken, string, error) {
	plaintext, prefix, err := newKeyText(WorkerTokenScheme)
	if err != nil {
		return WorkerToken{}, "", fmt.Errorf("create worker token: %w", err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return WorkerToken{}, "", fmt.Errorf("create worker token: new id: %w", err)
	}
	t, err := scanWorkerToken(s.sql.QueryRowContext(ctx, `INSERT INTO worker_tokens (id, name, prefix, hash, queues, max_in_flight)
		VALUES ($1, $2, $3, $4, $5::text[], $6) RETURNING `+workerTokenColumns,
		id, name, prefix, hashKey(plaintext), queues, maxInFlight))
	if err != nil {
		return WorkerToken{}, "", fmt.Errorf("create worker token: %w", err)
	}
	return t, plaintext, nil
}

// AuthenticateWorker resolves a plaintext worker token; an unknown or
// revoked one is pg.ErrNotFound.
func (s *Store) AuthenticateWorker(ctx context.Context, plaintext string) (WorkerToken, error) {
	if !strings.HasPrefix(plaintext, WorkerTokenScheme) {
		return WorkerToken{}, fmt.Errorf("authenticate worker: %w", pg.ErrNotFound)
	}
	t, err := scanWorkerToken(s.sql.QueryRowContext(ctx, `SELECT `+workerTokenColumns+`
		FROM worker_tokens WHERE hash = $1 AND revoked_at IS NULL`, hashKey(plaintext)))
	if errors.Is(err, sql.ErrNoRows) {
		return WorkerToken{}, fmt.Errorf("authenticate worker: %w", pg.ErrNotFound)
	}
	if err != nil {
		return WorkerToken{}, fmt.Errorf("authenticate worker: %w", err)
	}
	return t, nil
}

// ListWorkerTokens lists every token, newest first, revoked ones too.
func (s *Store) ListWorkerTokens(ctx context.Context) ([]WorkerToken, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT `+workerTokenColumns+` FROM worker_tokens ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("list worker tokens: %w", err)
	}
	defer rows.Close()
	out := []WorkerToken{}
	for rows.Next() {
		t, err := scanWorkerToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list worker tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list worker tokens: %w", err)
	}
	return out, nil
}

// RevokeWorkerToken stops a token from authenticating (its running jobs
// finish by their lease); an unknown one is pg.ErrNotFound.
func (s *Store) RevokeWorkerToken(ctx context.Context, id uuid.UUID) error {
	res, err := s.sql.ExecContext(ctx, `UPDATE worker_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("revoke worker token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke worker token %s: %w", id, pg.ErrNotFound)
	}
	return nil
}
