package main

import (
	"context"
	"fmt"
	"time"
)

// wf1Width is the fan-out of WF1: the most elements one step may have.
const wf1Width = 1000

// wf1 times a 1,000-element fan-out with a fan-in (one workflow of
// wf1Width+1 system.noop jobs, submitted in one request) against
// wf1Width independent system.noop jobs submitted in one batch request,
// each on a fresh stack: submit → last job succeeded. The difference per
// element is what the workflow adds to a job: its release in the
// parent's transaction, its own finishing transaction (workflow jobs are
// not group-committed) and the workflow lock every resolution takes.
// The sample is the workflow's; the baseline's figures are in Extra.
func wf1(ctx context.Context, o options) (sample, error) {
	var base sample
	baseline, err := measured(ctx, o, func(s *stack) (sample, int, error) {
		jobs := make([]map[string]any, wf1Width)
		for i := range jobs {
			jobs[i] = map[string]any{"kind": "system.noop"}
		}
		start := time.Now()
		if err := s.call(ctx, "POST", "/v1/jobs/batch", s.key, map[string]any{"jobs": jobs}, nil); err != nil {
			return sample{}, 0, err
		}
		res, err := s.drained(ctx, wf1Width, start)
		return res, wf1Width, err
	})
	if err != nil {
		return sample{}, fmt.Errorf("baseline: %w", err)
	}
	base = baseline
	flow, err := measured(ctx, o, func(s *stack) (sample, int, error) {
		items := make([]int, wf1Width)
		for i := range items {
			items[i] = i
		}
		req := map[string]any{"name": "bench fan-out", "steps": []map[string]any{
			{"name": "fan", "kind": "system.noop", "for_each": items},
			{"name": "join", "kind": "system.noop", "depends_on": []string{"fan"}},
		}}
		start := time.Now()
		if err := s.call(ctx, "POST", "/v1/workflows", s.key, req, nil); err != nil {
			return sample{}, 0, err
		}
		end, err := s.waitDone(ctx, wf1Width+1, 10*time.Minute)
		if err != nil {
			return sample{}, 0, err
		}
		// The fan-in, by the database's clock: from the last element's
		// end to the join's, and the join's wait from release to claim.
		var fanEnd time.Time
		var joinWait float64
		if err := s.db.QueryRow(ctx, `SELECT (SELECT max(finished_at) FROM jobs WHERE workflow_step = 'fan'),
			EXTRACT(EPOCH FROM j.started_at - s.released_at) * 1000
			FROM jobs j JOIN workflow_steps s ON s.workflow_id = j.workflow_id AND s.name = j.workflow_step
			WHERE j.workflow_step = 'join'`).Scan(&fanEnd, &joinWait); err != nil {
			return sample{}, 0, err
		}
		lat, err := s.serverLatencies(ctx, "AND workflow_step = 'fan'")
		if err != nil {
			return sample{}, 0, err
		}
		p50, p95, p99 := percentiles(lat)
		took := end.Sub(start)
		return sample{JobsPerSec: float64(wf1Width+1) / took.Seconds(), P50ms: p50, P95ms: p95, P99ms: p99,
			Extra: map[string]float64{
				"workflow_ms":        float64(took.Microseconds()) / 1000,
				"fan_out_ms":         float64(fanEnd.Sub(start).Microseconds()) / 1000,
				"fan_in_ms":          float64(end.Sub(fanEnd).Microseconds()) / 1000,
				"join_queue_wait_ms": joinWait,
			}}, wf1Width + 1, nil
	})
	if err != nil {
		return sample{}, fmt.Errorf("workflow: %w", err)
	}
	baseMS := float64(wf1Width) / base.JobsPerSec * 1000
	flow.Extra["independent_ms"] = baseMS
	flow.Extra["independent_jobs_per_sec"] = base.JobsPerSec
	flow.Extra["independent_p50_ms"], flow.Extra["independent_p99_ms"] = base.P50ms, base.P99ms
	flow.Extra["overhead_per_step_ms"] = (flow.Extra["workflow_ms"] - baseMS) / wf1Width
	for _, k := range []string{"gateway", "maintenance-worker", "postgres", "machine"} {
		flow.Extra["independent_cpu_s_per_1k_"+k] = base.CPUPer1000[k]
	}
	return flow, nil
}
