package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the whole run, as printed and as written to JSON.
type report struct {
	When      time.Time      `json:"when"`
	Machine   string         `json:"machine"`
	Runs      int            `json:"runs"`
	Jobs      int            `json:"jobs"`
	Ceilings  map[string]any `json:"ceilings"`
	RabbitMax float64        `json:"rabbitmq_ceiling_msgs_per_sec"`
	PGMax     float64        `json:"postgres_ceiling_rows_per_sec"`
	// RabbitCPU and PGCPU are the CPU seconds RabbitMQ's processes spend
	// per 1,000 messages at the RabbitMQ ceiling and Postgres's per 1,000
	// jobs at the Postgres ceiling. Together they are the least CPU any
	// job's durable work can take here; CPUBound is the jobs/s that leaves
	// on this machine's CPUs with nothing else running (no HTTP, gateway,
	// worker or client).
	RabbitCPU float64    `json:"rabbitmq_ceiling_cpu_s_per_1000"`
	PGCPU     float64    `json:"postgres_ceiling_cpu_s_per_1000"`
	CPUBound  float64    `json:"cpu_bound_jobs_per_sec"`
	Workloads []workload `json:"workloads"`
}

type workload struct {
	Name    string   `json:"name"`
	About   string   `json:"about"`
	Median  sample   `json:"median"`
	Runs    []sample `json:"runs"`
	Ratio   float64  `json:"ratio_to_rabbitmq_ceiling,omitempty"`
	Target  string   `json:"target"`
	Met     bool     `json:"target_met"`
	Comment string   `json:"comment,omitempty"`
}

func selected(o options, name string) bool {
	if o.only == "" {
		return true
	}
	for _, s := range strings.Split(o.only, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// medianSample takes the median of each figure across runs.
func medianSample(runs []sample) sample {
	pick := func(f func(sample) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return median(v)
	}
	m := sample{
		JobsPerSec: pick(func(s sample) float64 { return s.JobsPerSec }),
		P50ms:      pick(func(s sample) float64 { return s.P50ms }),
		P95ms:      pick(func(s sample) float64 { return s.P95ms }),
		P99ms:      pick(func(s sample) float64 { return s.P99ms }),
		Extra:      map[string]float64{}, CPUPer1000: map[string]float64{}, PeakRSSMiB: map[string]float64{},
	}
	for k := range runs[0].Extra {
		m.Extra[k] = pick(func(s sample) float64 { return s.Extra[k] })
	}
	for k := range runs[0].CPUPer1000 {
		m.CPUPer1000[k] = pick(func(s sample) float64 { return s.CPUPer1000[k] })
	}
	for k := range runs[0].PeakRSSMiB {
		m.PeakRSSMiB[k] = pick(func(s sample) float64 { return s.PeakRSSMiB[k] })
	}
	return m
}

func run(ctx context.Context, o options) (*report, error) {
	host, _ := os.Hostname()
	rep := &report{When: time.Now().UTC(), Runs: o.runs, Jobs: o.jobs, Ceilings: map[string]any{},
		Machine: fmt.Sprintf("%s, %d CPUs, %s", host, runtime.NumCPU(), runtime.Version())}

	if selected(o, "ceilings") || selected(o, "w1") || selected(o, "w1b") || selected(o, "w1c") || selected(o, "w1t") {
		var rab, pg, rabCPU, pgCPU []float64
		per := 1000 / float64(o.jobs)
		for i := 0; i < o.runs; i++ {
			before := takeCPU()
			r, err := rabbitCeiling(ctx, o.amqpURL, o.jobs, workerConcurrency)
			if err != nil {
				return nil, err
			}
			rab, rabCPU = append(rab, r), append(rabCPU, takeCPU().sub(before).RabbitMQ*per)
			s, err := startStack(ctx, o, workerConcurrency)
			if err != nil {
				return nil, err
			}
			before = takeCPU()
			p, err := pgCeiling(ctx, s.db, o.jobs)
			used := takeCPU().sub(before)
			s.stop()
			if err != nil {
				return nil, err
			}
			pg, pgCPU = append(pg, p), append(pgCPU, used.Postgres*per)
			fmt.Fprintf(os.Stderr, "ceilings run %d: rabbitmq %.0f msgs/s (%.3f CPU s/1k), postgres %.0f rows/s (%.3f CPU s/1k)\n",
				i+1, r, rabCPU[i], p, pgCPU[i])
		}
		rep.RabbitMax, rep.PGMax = median(rab), median(pg)
		rep.RabbitCPU, rep.PGCPU = median(rabCPU), median(pgCPU)
		if floor := rep.RabbitCPU + rep.PGCPU; floor > 0 {
			rep.CPUBound = float64(runtime.NumCPU()) * 1000 / floor
		}
		rep.Ceilings["rabbitmq_runs"], rep.Ceilings["postgres_runs"] = rab, pg
		rep.Ceilings["rabbitmq_cpu_runs"], rep.Ceilings["postgres_cpu_runs"] = rabCPU, pgCPU
	}

	type spec struct {
		name, about, target string
		fn                  func(context.Context, options) (sample, error)
		met                 func(sample) bool
	}
	specs := []spec{
		{"w1", fmt.Sprintf("%d system.noop over HTTP, %d clients, first submit → last succeeded", o.jobs, o.clients),
			">= 50% of the RabbitMQ ceiling", w1, func(s sample) bool { return rep.RabbitMax > 0 && s.JobsPerSec >= 0.5*rep.RabbitMax }},
		{"w1b", fmt.Sprintf("%d system.noop through POST /v1/jobs/batch (1,000 a request)", o.jobs),
			">= 80% of the RabbitMQ ceiling", w1b, func(s sample) bool { return rep.RabbitMax > 0 && s.JobsPerSec >= 0.8*rep.RabbitMax }},
		{"w1c", fmt.Sprintf("%d system.noop through the Go client's EnqueueMany (W1b's batches)", o.jobs),
			">= 80% of the RabbitMQ ceiling", w1c, func(s sample) bool { return rep.RabbitMax > 0 && s.JobsPerSec >= 0.8*rep.RabbitMax }},
		{"w1t", fmt.Sprintf("%d system.noop by hopper.EnqueueManyTx, 1,000 a transaction, no HTTP", o.jobs),
			">= 80% of the RabbitMQ ceiling", w1t, func(s sample) bool { return rep.RabbitMax > 0 && s.JobsPerSec >= 0.8*rep.RabbitMax }},
		{"w2", "3,000 low 2 ms sleeps queued, then 50 high; latency columns = high-priority queue wait",
			"high queue wait p99 < 50 ms", w2, func(s sample) bool { return s.P99ms < 50 }},
		{"w3", "one job at a time, submit → succeeded seen by the client",
			"p50 < 5 ms, p99 < 20 ms", w3, func(s sample) bool { return s.P50ms < 5 && s.P99ms < 20 }},
		{"w4", fmt.Sprintf("open-loop POST /v1/jobs at %d/s for %s; latency from the scheduled start", o.submitRate, o.submitFor),
			"p99 < 10 ms", w4, func(s sample) bool { return s.P99ms < 10 }},
		{"wf1", fmt.Sprintf("a workflow: %d-element fan-out of system.noop and a fan-in, one request, against %d independent system.noop in one batch; submit → last succeeded", wf1Width, wf1Width),
			"overhead per step < 1 ms", wf1, func(s sample) bool { return s.Extra["overhead_per_step_ms"] < 1 }},
		{"o1", fmt.Sprintf("output streaming: %d chunks, 1 ms apart, from a pull worker batching 20 ms, to %d SSE subscribers; latency = chunk made → received; CPU per 1,000 chunks", o1Chunks, o1Subscribers),
			"p99 < 50 ms", o1, func(s sample) bool { return s.P99ms < 50 }},
	}
	for _, sp := range specs {
		if !selected(o, sp.name) {
			continue
		}
		w := workload{Name: sp.name, About: sp.about, Target: sp.target}
		for i := 0; i < o.runs; i++ {
			s, err := sp.fn(ctx, o)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sp.name, err)
			}
			fmt.Fprintf(os.Stderr, "%s run %d: %.0f jobs/s, p50 %.1f ms, p99 %.1f ms\n", sp.name, i+1, s.JobsPerSec, s.P50ms, s.P99ms)
			w.Runs = append(w.Runs, s)
		}
		w.Median = medianSample(w.Runs)
		if rep.RabbitMax > 0 && strings.HasPrefix(sp.name, "w1") {
			w.Ratio = w.Median.JobsPerSec / rep.RabbitMax
		}
		w.Met = sp.met(w.Median)
		for name, mib := range w.Median.PeakRSSMiB {
			if mib >= 150 {
				w.Met = false
				w.Comment += fmt.Sprintf("%s peak RSS %.0f MiB >= 150 MiB; ", name, mib)
			}
		}
		rep.Workloads = append(rep.Workloads, w)
	}
	return rep, nil
}

func printTable(out io.Writer, rep *report) {
	fmt.Fprintf(out, "\nHopper benchmark — %s — median of %d runs\n", rep.Machine, rep.Runs)
	if rep.RabbitMax > 0 {
		fmt.Fprintf(out, "Ceilings: RabbitMQ %.0f msgs/s (persistent, confirms window %d, prefetch %d); Postgres %.0f rows/s (insert+claim+finish, 1,000-row batches)\n",
			rep.RabbitMax, confirmWindow, workerConcurrency, rep.PGMax)
		fmt.Fprintf(out, "CPU floor per 1,000 jobs: RabbitMQ %.3f s (at its ceiling) + Postgres %.3f s (at its ceiling) = at most %.0f jobs/s on %d CPUs with nothing else running; W1's target is %.0f jobs/s, W1b's %.0f\n",
			rep.RabbitCPU, rep.PGCPU, rep.CPUBound, runtime.NumCPU(), 0.5*rep.RabbitMax, 0.8*rep.RabbitMax)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nWORKLOAD\tJOBS/S\tRATIO\tP50 ms\tP95 ms\tP99 ms\tCPU s/1k (gw, worker, rabbitmq, postgres, machine)\tPEAK RSS MiB (gw, worker)\tTARGET\tMET")
	for _, wl := range rep.Workloads {
		m := wl.Median
		ratio := "—"
		if wl.Ratio > 0 {
			ratio = fmt.Sprintf("%.0f%%", 100*wl.Ratio)
		}
		c := m.CPUPer1000
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%.1f\t%.1f\t%.1f\t%.2f, %.2f, %.2f, %.2f, %.2f\t%.0f, %.0f\t%s\t%v\n", wl.Name, m.JobsPerSec, ratio,
			m.P50ms, m.P95ms, m.P99ms, c["gateway"], c["maintenance-worker"], c["rabbitmq"], c["postgres"], c["machine"],
			m.PeakRSSMiB["gateway"], m.PeakRSSMiB["maintenance-worker"], wl.Target, wl.Met)
	}
	_ = w.Flush()
	for _, wl := range rep.Workloads {
		extra := ""
		for k, v := range wl.Median.Extra {
			extra += fmt.Sprintf(" %s=%.1f", k, v)
		}
		if extra != "" || wl.Comment != "" {
			fmt.Fprintf(out, "%s:%s %s\n", wl.Name, extra, wl.Comment)
		}
	}
}
