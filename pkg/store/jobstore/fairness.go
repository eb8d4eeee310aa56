package jobstore

import (
	"context"
	"fmt"
	"sort"
)

// releaseHeldSQL admits held jobs: per owner and queue with held jobs, up
// to hopper_fair_room of them (cap minus in flight, counted under the
// owner's advisory lock, so it stays true until this statement commits),
// highest priority first, then oldest. SKIP LOCKED passes over rows a
// cancel or another release holds. A NULL room (no cap applies any more)
// releases them all. Owners are locked in id order. The picks are a
// materialized CTE, run once (a semi-join could rescan them and pick again
// after the update); the room subquery carries a volatile function and is
// not flattened, so the room is computed once per owner and queue, before
// its rows are picked. Placeholder: the total limit.
//
// The (owner, queue) pairs with held jobs are found by a loose index scan
// of jobs_held_idx (one index probe per pair, the recursive CTE), not a
// DISTINCT over every held row: a flood of 5,000 held jobs made each
// release read 5,000 index entries, and the dispatcher runs a release
// every ReleaseEvery while jobs move.
const releaseHeldSQL = `WITH RECURSIVE g AS (
	(SELECT owner_id, queue FROM jobs WHERE state = 'queued' AND held
	 ORDER BY owner_id, queue LIMIT 1)
	UNION ALL
	SELECT n.owner_id, n.queue FROM g CROSS JOIN LATERAL (
		SELECT owner_id, queue FROM jobs
		WHERE state = 'queued' AND held AND (owner_id, queue) > (g.owner_id, g.queue)
		ORDER BY owner_id, queue LIMIT 1) n
), pick AS MATERIALIZED (
	SELECT p.id
	FROM (
		SELECT g.owner_id, g.queue, hopper_fair_room(g.owner_id, g.queue) AS room
		FROM (SELECT owner_id, queue FROM g ORDER BY owner_id, queue) g
	) r
	CROSS JOIN LATERAL (
		SELECT j.id FROM jobs j
		WHERE j.owner_id = r.owner_id AND j.queue = r.queue AND j.state = 'queued' AND j.held
		ORDER BY j.priority DESC, j.created_at, j.id
		LIMIT CASE WHEN r.room IS NULL THEN NULL ELSE greatest(r.room, 0) END
		FOR UPDATE SKIP LOCKED
	) p
	LIMIT ?
)
UPDATE jobs SET held = false, updated_at = now()
WHERE id IN (SELECT id FROM pick) AND state = 'queued' AND held
RETURNING *`

// ReleaseHeld admits up to limit held jobs that their owners' fairness
// caps now make room for (see migration 00011) and returns them, ordered
// by priority then age, for the dispatcher to publish. Only the admission
// changes: the job stays queued, so it appends no timeline event, like a
// published mark. A released job that is never published is an ordinary
// outbox entry from then on.
func (s *Store) ReleaseHeld(ctx context.Context, limit int) ([]Job, error) {
	limit = batchLimit(limit)
	var out []Job
	if err := s.db.WithContext(ctx).Raw(releaseHeldSQL, limit).Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("release held jobs: %w", err)
	}
	sortByDispatchOrder(out)
	return out, nil
}

// sortByDispatchOrder orders jobs as they should reach RabbitMQ: highest
// priority first, then oldest (RETURNING keeps no order).
func sortByDispatchOrder(list []Job) {
	sort.SliceStable(list, func(a, b int) bool {
		x, y := list[a], list[b]
		if x.Priority != y.Priority {
			return x.Priority > y.Priority
		}
		if !x.CreatedAt.Equal(y.CreatedAt) {
			return x.CreatedAt.Before(y.CreatedAt)
		}
		return x.ID.String() < y.ID.String()
	})
}
