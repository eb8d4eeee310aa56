package main

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" (W1t)

	"github.com/hopperq/hopper/pkg/hopper"
)

// sample is one run of one workload.
type sample struct {
	JobsPerSec float64            `json:"jobs_per_sec"`
	P50ms      float64            `json:"p50_ms"`
	P95ms      float64            `json:"p95_ms"`
	P99ms      float64            `json:"p99_ms"`
	Extra      map[string]float64 `json:"extra,omitempty"`
	// CPUPer1000 holds the CPU seconds per 1,000 jobs of each Hopper
	// process, of RabbitMQ and Postgres, and of the whole machine.
	CPUPer1000 map[string]float64 `json:"cpu_seconds_per_1000_jobs"`
	PeakRSSMiB map[string]float64 `json:"peak_rss_mib"`
}

// workerConcurrency is the maintenance worker's concurrency (and prefetch)
// in every workload and in the RabbitMQ ceiling.
const workerConcurrency = 32

// measured runs body against a fresh stack, recording CPU and peak RSS of
// each process over body only.
func measured(ctx context.Context, o options, body func(s *stack) (sample, int, error)) (sample, error) {
	s, err := startStack(ctx, o, workerConcurrency)
	if err != nil {
		return sample{}, err
	}
	defer s.stop()
	cpu0 := map[string]float64{}
	for name, pid := range s.pids() {
		cpu0[name], _ = cpuSeconds(pid)
		resetPeak(pid)
	}
	shared0 := takeCPU()
	res, jobs, err := body(s)
	if err != nil {
		return sample{}, err
	}
	shared := takeCPU().sub(shared0)
	res.CPUPer1000, res.PeakRSSMiB = map[string]float64{}, map[string]float64{}
	if jobs > 0 {
		per := 1000 / float64(jobs)
		res.CPUPer1000["rabbitmq"], res.CPUPer1000["postgres"] = shared.RabbitMQ*per, shared.Postgres*per
		res.CPUPer1000["machine"] = shared.Machine * per
	}
	for name, pid := range s.pids() {
		c, _ := cpuSeconds(pid)
		if jobs > 0 {
			res.CPUPer1000[name] = (c - cpu0[name]) * 1000 / float64(jobs)
		}
		res.PeakRSSMiB[name], _ = peakRSSMiB(pid)
	}
	return res, nil
}

// serverLatencies reads submit→succeeded times (ms) from the database.
func (s *stack) serverLatencies(ctx context.Context, where string) ([]float64, error) {
	rows, err := s.db.Query(ctx, `SELECT EXTRACT(EPOCH FROM finished_at - created_at) * 1000 FROM jobs WHERE state = 'succeeded' `+where)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []float64
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func percentiles(v []float64) (p50, p95, p99 float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(v)
	at := func(q float64) float64 { return v[min(len(v)-1, int(q*float64(len(v))))] }
	return at(.50), at(.95), at(.99)
}

// w1 submits n noop jobs over HTTP with the given concurrency, one per
// request, and times first submit → last succeeded.
func w1(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		n := o.jobs
		profiled := s.profileIf(ctx, o, "w1")
		start := time.Now()
		err := concurrently(o.clients, n, func(int) error {
			return s.call(ctx, "POST", "/v1/jobs", s.key, map[string]any{"kind": "system.noop"}, nil)
		})
		if err != nil {
			return sample{}, 0, err
		}
		enqueued := time.Since(start)
		res, err := s.drained(ctx, n, start)
		if err != nil {
			return sample{}, 0, err
		}
		withEnqueueRate(&res, n, enqueued)
		if err := <-profiled; err != nil {
			return sample{}, 0, fmt.Errorf("profile: %w", err)
		}
		return res, n, nil
	})
}

// w1b submits the same jobs through the batch endpoint, 1,000 a request.
func w1b(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		n := o.jobs
		start := time.Now()
		err := concurrently(bulkClients, (n+bulkBatch-1)/bulkBatch, func(b int) error {
			jobs := make([]map[string]any, min(bulkBatch, n-b*bulkBatch))
			for i := range jobs {
				jobs[i] = map[string]any{"kind": "system.noop"}
			}
			return s.call(ctx, "POST", "/v1/jobs/batch", s.key, map[string]any{"jobs": jobs}, nil)
		})
		if err != nil {
			return sample{}, 0, err
		}
		enqueued := time.Since(start)
		res, err := s.drained(ctx, n, start)
		withEnqueueRate(&res, n, enqueued)
		return res, n, err
	})
}

// bulkBatch and bulkClients shape the bulk workloads (W1b, W1c, W1t):
// 1,000 jobs a call, 4 calls at once.
const bulkBatch, bulkClients = 1000, 4

// noopItems is a batch of n system.noop jobs for the Go SDK.
func noopItems(n int) []hopper.BatchItem {
	items := make([]hopper.BatchItem, n)
	for i := range items {
		items[i] = hopper.BatchItem{Kind: "system.noop"}
	}
	return items
}

// w1c submits W1b's batches through the Go client (hopper.Client.EnqueueMany).
func w1c(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		c, err := hopper.NewClient(s.base, s.key)
		if err != nil {
			return sample{}, 0, err
		}
		n := o.jobs
		start := time.Now()
		err = concurrently(bulkClients, (n+bulkBatch-1)/bulkBatch, func(b int) error {
			_, err := c.EnqueueMany(ctx, noopItems(min(bulkBatch, n-b*bulkBatch)))
			return err
		})
		if err != nil {
			return sample{}, 0, err
		}
		enqueued := time.Since(start)
		res, err := s.drained(ctx, n, start)
		withEnqueueRate(&res, n, enqueued)
		return res, n, err
	})
}

// w1t inserts W1b's batches with hopper.EnqueueManyTx, each in a
// transaction of its own on a database/sql pool, as a Go service sharing
// Hopper's Postgres would: no HTTP; the gateway's dispatcher publishes each
// batch as its transaction commits.
func w1t(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		if err := s.waitLeading(ctx); err != nil {
			return sample{}, 0, err
		}
		db, err := sql.Open("pgx", s.dsn)
		if err != nil {
			return sample{}, 0, err
		}
		defer db.Close()
		db.SetMaxOpenConns(bulkClients)
		owner, err := uuid.Parse(s.userID)
		if err != nil {
			return sample{}, 0, err
		}
		n := o.jobs
		start := time.Now()
		err = concurrently(bulkClients, (n+bulkBatch-1)/bulkBatch, func(b int) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer func() { _ = tx.Rollback() }()
			if _, err := hopper.EnqueueManyTx(ctx, tx, owner, noopItems(min(bulkBatch, n-b*bulkBatch))); err != nil {
				return err
			}
			return tx.Commit()
		})
		if err != nil {
			return sample{}, 0, err
		}
		enqueued := time.Since(start)
		res, err := s.drained(ctx, n, start)
		withEnqueueRate(&res, n, enqueued)
		return res, n, err
	})
}

// withEnqueueRate records how fast the n jobs were accepted (inserted and,
// through HTTP, answered) apart from how fast they ran: the rate a Go
// backend enqueues at, beside the end-to-end rate.
func withEnqueueRate(res *sample, n int, took time.Duration) {
	if res.Extra == nil {
		res.Extra = map[string]float64{}
	}
	res.Extra["enqueue_jobs_per_sec"] = float64(n) / took.Seconds()
}

// concurrently calls each(i) for every i in [0, n) from workers goroutines
// and returns the first error; a worker stops at its first error.
func concurrently(workers, n int, each func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				if err := each(int(i)); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// drained waits for the n jobs to succeed and reports jobs/s from start to
// the last success, and submit → succeeded latencies from Postgres.
func (s *stack) drained(ctx context.Context, n int, start time.Time) (sample, error) {
	end, err := s.waitDone(ctx, n, 10*time.Minute)
	if err != nil {
		return sample{}, err
	}
	lat, err := s.serverLatencies(ctx, "")
	if err != nil {
		return sample{}, err
	}
	p50, p95, p99 := percentiles(lat)
	return sample{JobsPerSec: float64(n) / end.Sub(start).Seconds(), P50ms: p50, P95ms: p95, P99ms: p99}, nil
}

// w2 queues 3,000 low-priority 2 ms sleeps, then 50 high-priority ones,
// and reports each class's queue wait (due → started).
func w2(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		const lows, highs = 3000, 50
		for b := 0; b < lows/1000; b++ {
			jobs := make([]map[string]any, 1000)
			for i := range jobs {
				jobs[i] = map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 2}, "priority": "low"}
			}
			if err := s.call(ctx, "POST", "/v1/jobs/batch", s.key, map[string]any{"jobs": jobs}, nil); err != nil {
				return sample{}, 0, err
			}
		}
		start := time.Now()
		for i := 0; i < highs; i++ {
			if err := s.call(ctx, "POST", "/v1/jobs", s.key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 2}, "priority": "high"}, nil); err != nil {
				return sample{}, 0, err
			}
		}
		end, err := s.waitDone(ctx, lows+highs, 10*time.Minute)
		if err != nil {
			return sample{}, 0, err
		}
		elapsed := end.Sub(start)
		wait := func(prio int) ([]float64, error) {
			rows, err := s.db.Query(ctx, `SELECT EXTRACT(EPOCH FROM started_at - created_at) * 1000 FROM jobs WHERE priority = $1`, prio)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []float64
			for rows.Next() {
				var v float64
				if err := rows.Scan(&v); err != nil {
					return nil, err
				}
				out = append(out, v)
			}
			return out, rows.Err()
		}
		hi, err := wait(5)
		if err != nil {
			return sample{}, 0, err
		}
		lo, err := wait(1)
		if err != nil {
			return sample{}, 0, err
		}
		h50, h95, h99 := percentiles(hi)
		l50, _, l99 := percentiles(lo)
		return sample{JobsPerSec: float64(lows+highs) / elapsed.Seconds(), P50ms: h50, P95ms: h95, P99ms: h99,
			Extra: map[string]float64{"low_wait_p50_ms": l50, "low_wait_p99_ms": l99}}, lows + highs, nil
	})
}

// w3 runs one job at a time on an idle system: submit → succeeded as the
// client sees it (polling the row every millisecond).
func w3(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		const n = 200
		lat := make([]float64, 0, n)
		submit := make([]float64, 0, n)
		start := time.Now()
		for i := 0; i < n; i++ {
			var out struct {
				ID string `json:"id"`
			}
			t0 := time.Now()
			if err := s.call(ctx, "POST", "/v1/jobs", s.key, map[string]any{"kind": "system.noop"}, &out); err != nil {
				return sample{}, 0, err
			}
			submit = append(submit, float64(time.Since(t0).Microseconds())/1000)
			for {
				var state string
				if err := s.db.QueryRow(ctx, "SELECT state FROM jobs WHERE id = $1", out.ID).Scan(&state); err != nil {
					return sample{}, 0, err
				}
				if state == "succeeded" {
					break
				}
				if time.Since(t0) > time.Minute {
					return sample{}, 0, fmt.Errorf("job %s not done in a minute", out.ID)
				}
				time.Sleep(time.Millisecond)
			}
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
		p50, p95, p99 := percentiles(lat)
		s50, _, s99 := percentiles(submit)
		extra := map[string]float64{"submit_p50_ms": s50, "submit_p99_ms": s99}
		// Where the time goes, by the database's clock: insert → claim
		// (publish, delivery, claim commit) and claim → success.
		var toClaim, toDone float64
		err := s.db.QueryRow(ctx, `SELECT
			percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM started_at - created_at)) * 1000,
			percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM finished_at - started_at)) * 1000
			FROM jobs WHERE state = 'succeeded'`).Scan(&toClaim, &toDone)
		if err != nil {
			return sample{}, 0, err
		}
		extra["to_claim_p50_ms"], extra["claim_to_done_p50_ms"] = toClaim, toDone
		return sample{JobsPerSec: n / time.Since(start).Seconds(), P50ms: p50, P95ms: p95, P99ms: p99,
			Extra: extra}, n, nil
	})
}

// w4 submits at a fixed rate, open loop (each request starts on schedule
// whatever the previous ones do), and reports submit latency measured from
// the scheduled start, so a stall is not hidden.
func w4(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		total := int(float64(o.submitRate) * o.submitFor.Seconds())
		lat := make([]float64, total)
		var failed atomic.Int64
		var wg sync.WaitGroup
		interval := time.Second / time.Duration(o.submitRate)
		profiled := s.profileIf(ctx, o, "w4")
		start := time.Now()
		for i := 0; i < total; i++ {
			at := start.Add(time.Duration(i) * interval)
			if d := time.Until(at); d > 0 {
				time.Sleep(d)
			}
			wg.Add(1)
			go func(i int, at time.Time) {
				defer wg.Done()
				if err := s.call(ctx, "POST", "/v1/jobs", s.key, map[string]any{"kind": "system.noop"}, nil); err != nil {
					failed.Add(1)
				}
				lat[i] = float64(time.Since(at).Microseconds()) / 1000
			}(i, at)
		}
		wg.Wait()
		elapsed := time.Since(start)
		if err := <-profiled; err != nil {
			return sample{}, 0, fmt.Errorf("profile: %w", err)
		}
		p50, p95, p99 := percentiles(lat)
		return sample{JobsPerSec: float64(total) / elapsed.Seconds(), P50ms: p50, P95ms: p95, P99ms: p99,
			Extra: map[string]float64{"failed_requests": float64(failed.Load())}}, total, nil
	})
}
