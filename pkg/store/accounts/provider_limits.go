package accounts

import (
	"context"
	"fmt"
	"time"
)

// Provider rate limits (issue 8): GCRA states shared by every worker
// replica, one provider_limits row per bucket. pkg/ratelimit holds the
// arithmetic that turns a limit into an interval and a tolerance; these
// statements apply it atomically with the database's clock.
//
// GCRA: a bucket keeps a theoretical arrival time (TAT). A request arriving
// at now may go at max(now, TAT - tolerance), and moves TAT to
// max(TAT, now) + interval. With a backlog, requests go exactly one
// interval apart; after an idle spell, up to tolerance/interval + 1 go at
// once.

// reserveRequestSQL reserves the next request slot of a bucket, creating
// the row on first use, unless the slot is more than maxWait away (the
// WHERE of DO UPDATE: no row is returned and nothing is reserved). It
// returns how long the caller must wait before sending. Parameters: key,
// interval, interval, tolerance, maxWait, interval, tolerance (seconds).
const reserveRequestSQL = `
INSERT INTO provider_limits AS p (key, request_tat, updated_at)
VALUES (?, clock_timestamp() + make_interval(secs => ?::float8), clock_timestamp())
ON CONFLICT (key) DO UPDATE
SET request_tat = greatest(p.request_tat, clock_timestamp()) + make_interval(secs => ?::float8),
    updated_at = clock_timestamp()
WHERE p.request_tat <= clock_timestamp() + make_interval(secs => ?::float8) + make_interval(secs => ?::float8)
RETURNING greatest(extract(epoch FROM request_tat - make_interval(secs => ?::float8)
    - make_interval(secs => ?::float8) - clock_timestamp()), 0)::float8 AS wait`

// ReserveProviderRequest reserves the next request slot of the bucket key
// (GCRA with interval and tolerance) and returns how long the caller must
// wait before sending. When the slot is more than maxWait away nothing is
// reserved and ok is false; wait is then the time until the next slot as
// things stand.
func (s *Store) ReserveProviderRequest(ctx context.Context, key string, interval, tolerance, maxWait time.Duration) (wait time.Duration, ok bool, err error) {
	if interval <= 0 || tolerance < 0 || maxWait < 0 {
		return 0, false, fmt.Errorf("provider limit %s: bad interval %s, tolerance %s or max wait %s", key, interval, tolerance, maxWait)
	}
	iv, tol := interval.Seconds(), tolerance.Seconds()
	var rows []struct{ Wait float64 }
	if err := s.db.WithContext(ctx).Raw(reserveRequestSQL, key, iv, iv, tol, maxWait.Seconds(), iv, tol).Scan(&rows).Error; err != nil {
		return 0, false, fmt.Errorf("reserve provider request %s: %w", key, err)
	}
	if len(rows) == 1 {
		return seconds(rows[0].Wait), true, nil
	}
	var next []struct{ Wait float64 }
	if err := s.db.WithContext(ctx).Raw(`
		SELECT extract(epoch FROM greatest(request_tat - make_interval(secs => ?::float8), c.now) - c.now)::float8 AS wait
		FROM provider_limits, (SELECT clock_timestamp() AS now) c WHERE key = ?`, tol, key).Scan(&next).Error; err != nil {
		return 0, false, fmt.Errorf("provider request wait %s: %w", key, err)
	}
	if len(next) == 1 {
		wait = seconds(next[0].Wait)
	}
	return wait, false, nil
}

// ProviderTokenWait is how long until the token budget of the bucket key
// is no longer exhausted: until its token TAT is at most tolerance ahead
// of now (0 when the row does not exist yet).
func (s *Store) ProviderTokenWait(ctx context.Context, key string, tolerance time.Duration) (time.Duration, error) {
	var rows []struct{ Wait float64 }
	if err := s.db.WithContext(ctx).Raw(`
		SELECT extract(epoch FROM greatest(token_tat - make_interval(secs => ?::float8), c.now) - c.now)::float8 AS wait
		FROM provider_limits, (SELECT clock_timestamp() AS now) c WHERE key = ?`, tolerance.Seconds(), key).Scan(&rows).Error; err != nil {
		return 0, fmt.Errorf("provider token wait %s: %w", key, err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	return seconds(rows[0].Wait), nil
}

// ChargeProviderTokens moves the token TAT of the bucket key by cost (the
// tokens used times the per-token interval), creating the row on first use.
func (s *Store) ChargeProviderTokens(ctx context.Context, key string, cost time.Duration) error {
	if cost <= 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Exec(`
		INSERT INTO provider_limits AS p (key, token_tat, updated_at)
		VALUES (?, clock_timestamp() + make_interval(secs => ?::float8), clock_timestamp())
		ON CONFLICT (key) DO UPDATE
		SET token_tat = greatest(p.token_tat, clock_timestamp()) + make_interval(secs => ?::float8),
		    updated_at = clock_timestamp()`, key, cost.Seconds(), cost.Seconds()).Error
	if err != nil {
		return fmt.Errorf("charge provider tokens %s: %w", key, err)
	}
	return nil
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
