package jobstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// QuotaWindow is the sliding window of a plan's JobsPerHour.
const QuotaWindow = time.Hour

// quotaLockSQL serialises the quota check and insert of one owner's jobs
// across every gateway: a transaction-scoped advisory lock in the two-key
// space (the dispatcher's and cron's locks use the one-key space), keyed
// by schema so test schemas never contend. Two owners whose ids hash alike
// merely take turns.
const quotaLockSQL = `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':quota'), hashtext($1::text))`

// quotaCountedSQL selects the owner's jobs that count against
// JobsPerHour: those created in the window, follow-ups included (a
// webhook delivery or job-finished mail is a job run for the owner, so
// it is counted, though never refused: the job it follows was admitted),
// except cron ticks (key prefix schedule:, the operator's schedules).
// Placeholders: owner, window start.
const quotaCountedSQL = `owner_id = $1 AND created_at > $2
	AND (idempotency_key IS NULL OR idempotency_key NOT LIKE 'schedule:%')`

// quotaChargesSQL selects the owner's other work in the window: manual
// retries (quota_charges, migration 00017). Placeholders as above.
const quotaChargesSQL = `owner_id = $1 AND charged_at > $2`

// quotaTimesSQL is when each counted unit entered the window, for the
// Retry-After of a refusal. Placeholders: owner, window start.
const quotaTimesSQL = `SELECT created_at AS at FROM jobs WHERE ` + quotaCountedSQL + `
	UNION ALL SELECT charged_at FROM quota_charges WHERE ` + quotaChargesSQL

// ReservedKeyPrefixes are the idempotency key prefixes of jobs Hopper
// creates itself; a client may not use them (they would escape the quota).
var ReservedKeyPrefixes = []string{"webhook:", "notify:", "schedule:"}

// LockQuota takes owner's quota lock in tx, which must be a transaction:
// the lock lasts until it ends.
func LockQuota(ctx context.Context, tx pg.Querier, owner uuid.UUID) error {
	if _, err := tx.ExecContext(ctx, quotaLockSQL, owner.String()); err != nil {
		return fmt.Errorf("quota lock: %w", err)
	}
	return nil
}

// jobsWindow counts the owner's jobs and retries in the window ending at
// now and, when n more would not fit in perHour, how long until they
// would: the time the k-th oldest of them leaves it, k = used+n-perHour.
func jobsWindow(ctx context.Context, q pg.Querier, owner uuid.UUID, perHour, n int, now time.Time) (used int, retry time.Duration, err error) {
	since := now.Add(-QuotaWindow)
	if err := queryRow(ctx, q, `SELECT (SELECT count(*) FROM jobs WHERE `+quotaCountedSQL+`)
		+ (SELECT count(*) FROM quota_charges WHERE `+quotaChargesSQL+`)`, []any{owner, since}, &used); err != nil {
		return 0, 0, fmt.Errorf("count jobs in quota window: %w", err)
	}
	if perHour <= 0 || used+n <= perHour || n > perHour {
		return used, 0, nil
	}
	k := used + n - perHour
	var at time.Time
	if err := queryRow(ctx, q, `SELECT at FROM (`+quotaTimesSQL+`) w ORDER BY at OFFSET $3 LIMIT 1`,
		[]any{owner, since, k - 1}, &at); err != nil {
		return 0, 0, fmt.Errorf("oldest job in quota window: %w", err)
	}
	retry = at.Add(QuotaWindow).Sub(now)
	if retry < time.Second {
		retry = time.Second
	}
	return used, retry, nil
}

// queryRow runs q, which selects one row, and scans it into dest.
func queryRow(ctx context.Context, db pg.Querier, q string, args []any, dest ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	return rows.Close()
}
