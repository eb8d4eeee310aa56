package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// O1's shape: one job streaming chunks to several subscribers.
const (
	o1Chunks      = 4000
	o1Subscribers = 10
	// o1Batch is how long the pull worker holds chunks before posting
	// them, as the Go runtime does (HOPPER_OUTPUT_FLUSH_EVERY).
	o1Batch = 20 * time.Millisecond
)

// o1 measures output streaming end to end: a worker speaking the pull
// protocol over HTTP (as a Python or TypeScript worker would) claims a
// job, makes a chunk every millisecond carrying its making time, posts
// them in batches every o1Batch, and o1Subscribers SSE clients follow
// GET /v1/jobs/{id}/output. Latency is chunk made → received (one clock:
// one machine); CPU is per 1,000 chunks.
func o1(ctx context.Context, o options) (sample, error) {
	return measured(ctx, o, func(s *stack) (sample, int, error) {
		var tok struct {
			Token string `json:"token"`
		}
		if err := s.call(ctx, "POST", "/v1/admin/worker-tokens", s.admin, map[string]any{"name": "bench", "queues": []string{"benchout"}}, &tok); err != nil {
			return sample{}, 0, err
		}
		if err := s.call(ctx, "POST", "/v1/worker/kinds", tok.Token, map[string]any{"kinds": []any{map[string]any{"name": "benchout.stream", "timeout_seconds": 600}}}, nil); err != nil {
			return sample{}, 0, err
		}
		var job struct {
			ID string `json:"id"`
		}
		if err := s.call(ctx, "POST", "/v1/jobs", s.key, map[string]any{"kind": "benchout.stream", "payload": map[string]any{}}, &job); err != nil {
			return sample{}, 0, err
		}
		claimStart := time.Now()
		var claimed struct {
			Job struct {
				ID      string `json:"id"`
				Attempt int    `json:"attempt"`
			} `json:"job"`
		}
		if err := s.call(ctx, "POST", "/v1/worker/claim", tok.Token, map[string]any{"wait_seconds": 10}, &claimed); err != nil {
			return sample{}, 0, err
		}
		claimMS := float64(time.Since(claimStart).Microseconds()) / 1000

		lat := make([][]float64, o1Subscribers)
		errs := make(chan error, o1Subscribers)
		var ready, done sync.WaitGroup
		for i := range o1Subscribers {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				l, err := s.followOutput(ctx, job.ID, ready.Done)
				lat[i] = l
				errs <- err
			}()
		}
		ready.Wait()

		start := time.Now()
		path := "/v1/worker/jobs/" + job.ID
		var batch []string
		flushAt := time.Now().Add(o1Batch)
		post := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := s.call(ctx, "POST", path+"/output", tok.Token, map[string]any{"attempt": claimed.Job.Attempt, "chunks": batch}, nil)
			batch = batch[:0]
			return err
		}
		for i := range o1Chunks {
			batch = append(batch, strconv.FormatInt(time.Now().UnixNano(), 10)+" ")
			if time.Now().After(flushAt) {
				if err := post(); err != nil {
					return sample{}, 0, err
				}
				flushAt = time.Now().Add(o1Batch)
			}
			if i%1000 == 999 {
				if err := s.call(ctx, "POST", path+"/heartbeat", tok.Token, map[string]any{"attempt": claimed.Job.Attempt}, nil); err != nil {
					return sample{}, 0, err
				}
			}
			time.Sleep(time.Millisecond)
		}
		if err := post(); err != nil {
			return sample{}, 0, err
		}
		if err := s.call(ctx, "POST", path+"/succeed", tok.Token, map[string]any{"attempt": claimed.Job.Attempt, "result": nil}, nil); err != nil {
			return sample{}, 0, err
		}
		done.Wait()
		took := time.Since(start)
		close(errs)
		var all []float64
		for err := range errs {
			if err != nil {
				return sample{}, 0, err
			}
		}
		for _, l := range lat {
			if len(l) != o1Chunks {
				return sample{}, 0, fmt.Errorf("a subscriber got %d chunks of %d", len(l), o1Chunks)
			}
			all = append(all, l...)
		}
		var rows float64
		if err := s.db.QueryRow(ctx, `SELECT count(*) FROM job_output WHERE job_id = $1`, job.ID).Scan(&rows); err != nil {
			return sample{}, 0, err
		}
		p50, p95, p99 := percentiles(all)
		return sample{JobsPerSec: o1Chunks / took.Seconds(), P50ms: p50, P95ms: p95, P99ms: p99,
			Extra: map[string]float64{"claim_ms": claimMS, "rows": rows, "chunks_per_row": o1Chunks / rows}}, o1Chunks, nil
	})
}

// followOutput reads a job's output stream to its end and returns each
// chunk's latency (ms) from the making time it carries.
func (s *stack) followOutput(ctx context.Context, id string, opened func()) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/jobs/"+id+"/output", nil)
	if err != nil {
		opened()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := (&http.Client{}).Do(req)
	opened()
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("output stream: %d", resp.StatusCode)
	}
	var lat []float64
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "end":
			return lat, nil
		case strings.HasPrefix(line, "data: ") && event == "output":
			var c struct {
				Text string `json:"text"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &c); err != nil {
				return nil, err
			}
			made, err := strconv.ParseInt(strings.TrimSpace(c.Text), 10, 64)
			if err != nil {
				return nil, err
			}
			lat = append(lat, float64(time.Now().UnixNano()-made)/1e6)
		}
	}
	return lat, fmt.Errorf("output stream ended without its end event: %v", sc.Err())
}
