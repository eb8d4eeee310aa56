package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// confirmWindow and prefetch match what Hopper uses, so the ceiling is
// measured under the same rules.
const confirmWindow = 256

// rabbitCeiling publishes n persistent envelope-sized messages with
// confirms (same in-flight window) into a queue with Hopper's arguments,
// consumed with the same prefetch and acked: messages per second from the
// first publish to the last ack.
func rabbitCeiling(ctx context.Context, amqpURL string, n, prefetch int) (float64, error) {
	pubConn, err := amqp.Dial(amqpURL)
	if err != nil {
		return 0, fmt.Errorf("rabbit ceiling: %w", err)
	}
	defer pubConn.Close()
	subConn, err := amqp.Dial(amqpURL)
	if err != nil {
		return 0, fmt.Errorf("rabbit ceiling: %w", err)
	}
	defer subConn.Close()
	pub, err := pubConn.Channel()
	if err != nil {
		return 0, err
	}
	queue := "bench.ceiling." + randHex(4)
	args := amqp.Table{"x-max-priority": int32(5), "x-queue-type": "classic"}
	if _, err := pub.QueueDeclare(queue, true, false, false, false, args); err != nil {
		return 0, fmt.Errorf("declare ceiling queue: %w", err)
	}
	defer func() { _, _ = pub.QueueDelete(queue, false, false, false) }()
	if err := pub.Confirm(false); err != nil {
		return 0, err
	}
	sub, err := subConn.Channel()
	if err != nil {
		return 0, err
	}
	if err := sub.Qos(prefetch, 0, false); err != nil {
		return 0, err
	}
	deliveries, err := sub.Consume(queue, "", false, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	body, _ := json.Marshal(map[string]any{"job_id": uuid.NewString(), "attempt": 1})
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			d, ok := <-deliveries
			if !ok {
				done <- fmt.Errorf("consumer closed after %d", i)
				return
			}
			if err := d.Ack(false); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	start := time.Now()
	inflight := make([]*amqp.DeferredConfirmation, 0, confirmWindow)
	for i := 0; i < n; i++ {
		if len(inflight) == confirmWindow {
			if !inflight[0].Wait() {
				return 0, fmt.Errorf("ceiling publish nacked")
			}
			inflight = inflight[1:]
		}
		dc, err := pub.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Priority: 3,
			MessageId: uuid.NewString(), Type: "system.noop", Body: body,
		})
		if err != nil {
			return 0, fmt.Errorf("ceiling publish: %w", err)
		}
		inflight = append(inflight, dc)
	}
	for _, dc := range inflight {
		dc.Wait()
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// pgCeiling writes n job rows with the durable statements Hopper's path
// needs — insert (with its event), claim (with its event), finish (with
// its event) — at the best batching (1,000 rows a statement, 2 writers for
// 2 cores), into the same tables and indexes: rows per second.
func pgCeiling(ctx context.Context, db *pgxpool.Pool, n int) (float64, error) {
	var owner uuid.UUID
	// On the unlimited plan, like the workloads' users: no quota or
	// fairness cap applies, only the triggers every job write pays.
	if err := db.QueryRow(ctx, `INSERT INTO users (id, email, role, plan) VALUES ($1, $2, 'user', 'unlimited') RETURNING id`,
		uuid.Must(uuid.NewV7()), "ceiling-"+randHex(4)+"@example.com").Scan(&owner); err != nil {
		return 0, fmt.Errorf("pg ceiling user: %w", err)
	}
	const batch = 1000
	const writers = 2
	start := time.Now()
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			for off := w * batch; off < n; off += writers * batch {
				size := min(batch, n-off)
				if err := pgBatch(ctx, db, owner, size); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func pgBatch(ctx context.Context, db *pgxpool.Pool, owner uuid.UUID, size int) error {
	ids := make([]uuid.UUID, size)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	_, err := db.Exec(ctx, `WITH ins AS (
		INSERT INTO jobs (id, owner_id, kind, queue, state, priority, payload, max_attempts, timeout_ms, run_at, created_at, updated_at)
		SELECT id, $2, 'system.noop', 'maintenance', 'queued', 3, '{}', 3, 30000, now(), now(), now() FROM unnest($1::uuid[]) AS id
		RETURNING id, state, attempt)
		INSERT INTO job_events (job_id, type, state, attempt) SELECT id, 'created', state, attempt FROM ins`, ids, owner)
	if err != nil {
		return fmt.Errorf("pg ceiling insert: %w", err)
	}
	_, err = db.Exec(ctx, `WITH u AS (
		UPDATE jobs SET state = 'running', attempt = attempt + 1, worker_id = 'ceiling', lease_expires_at = now() + interval '30s',
		started_at = now(), updated_at = now() WHERE id = ANY($1) AND state = 'queued' RETURNING id, state, attempt)
		INSERT INTO job_events (job_id, type, state, attempt) SELECT id, 'started', state, attempt FROM u`, ids)
	if err != nil {
		return fmt.Errorf("pg ceiling claim: %w", err)
	}
	_, err = db.Exec(ctx, `WITH u AS (
		UPDATE jobs SET state = 'succeeded', progress = 100, result = '{"ok":true}', finished_at = now(), lease_expires_at = NULL,
		updated_at = now() WHERE id = ANY($1) AND state = 'running' AND worker_id = 'ceiling' RETURNING id, state, attempt)
		INSERT INTO job_events (job_id, type, state, attempt) SELECT id, 'succeeded', state, attempt FROM u`, ids)
	if err != nil {
		return fmt.Errorf("pg ceiling finish: %w", err)
	}
	return nil
}
