package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hopperq/hopper/pkg/jobs"
)

// MaxSleep bounds system.sleep so a typo cannot park a worker slot for
// days.
const MaxSleep = time.Hour

// RegisterSystem registers system.noop and system.sleep, which every worker
// runs for smoke tests and benchmarks.
func RegisterSystem(p *Processor) {
	p.Handle(jobs.KindNoop, noop)
	p.Handle(jobs.KindSleep, sleep)
}

func noop(_ context.Context, job *Job) (any, error) {
	return map[string]any{"ok": true, "attempt": job.Attempt}, nil
}

type sleepPayload struct {
	MS   *int64 `json:"ms"`
	Fail string `json:"fail,omitempty"` // "permanent" or "transient": fail after sleeping, for tests
	// CallbackURL, a loopback http URL, receives a POST when the sleep
	// completes or is interrupted: an observable side effect for fault
	// tests and benchmarks.
	CallbackURL string `json:"callback_url,omitempty"`
}

// SleepCallback is the body system.sleep posts to callback_url.
type SleepCallback struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"`
	Event   string `json:"event"` // "completed" or "interrupted"
	Error   string `json:"error,omitempty"`
}

// sleep waits payload.ms milliseconds, reporting progress in ten steps.
func sleep(ctx context.Context, job *Job) (any, error) {
	var p sleepPayload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return nil, Permanentf("payload: %v", err)
	}
	if p.MS == nil || *p.MS < 0 {
		return nil, Permanentf("payload.ms: want a number of milliseconds >= 0")
	}
	total := time.Duration(*p.MS) * time.Millisecond
	if total > MaxSleep {
		return nil, Permanentf("payload.ms: %s is over the %s limit", total, MaxSleep)
	}
	if err := checkLoopbackURL(p.CallbackURL); err != nil {
		return nil, Permanentf("payload.callback_url: %v", err)
	}
	// A sleep reports progress every tenth, but only when a tenth is at
	// least 50 ms; a shorter one waits on one timer: ten short timers
	// cost about a millisecond of scheduling each on a busy box, so a
	// "2 ms" job took 8-10 ms.
	steps := 10
	if total/10 < 50*time.Millisecond {
		steps = 1
	}
	step := total / time.Duration(steps)
	for i := 1; i <= steps; i++ {
		t := time.NewTimer(step)
		select {
		case <-ctx.Done():
			t.Stop()
			err := fmt.Errorf("sleep interrupted at %d%%: %w", (i-1)*100/steps, ctx.Err())
			_ = callback(context.WithoutCancel(ctx), p.CallbackURL, SleepCallback{
				JobID: job.ID.String(), Attempt: job.Attempt, Event: "interrupted", Error: err.Error()})
			return nil, err
		case <-t.C:
		}
		if i < steps {
			_ = job.Progress(ctx, i*10, fmt.Sprintf("slept %s of %s", step*time.Duration(i), total))
		}
	}
	if err := callback(ctx, p.CallbackURL, SleepCallback{JobID: job.ID.String(), Attempt: job.Attempt, Event: "completed"}); err != nil {
		return nil, err
	}
	switch p.Fail {
	case "permanent":
		return nil, Permanentf("asked to fail permanently")
	case "transient":
		return nil, fmt.Errorf("asked to fail (attempt %d)", job.Attempt)
	}
	if steps > 1 { // as above: a short sleep reports no progress at all
		_ = job.Progress(ctx, 100, fmt.Sprintf("slept %s", total))
	}
	return map[string]any{"slept_ms": *p.MS}, nil
}

// checkLoopbackURL allows only http URLs on loopback hosts: system.sleep is
// a test aid and must not become a way to reach other machines.
func checkLoopbackURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return fmt.Errorf("%q is not an http URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q: only loopback hosts are allowed", raw)
}

// callbackClient posts system.sleep's callbacks. The URL was checked to be
// loopback; following a redirect (or a proxy from the environment) would
// let the receiver send the worker anywhere else, so it does neither: a
// 3xx answer is a failed callback.
var callbackClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

func callback(ctx context.Context, target string, body SleepCallback) error {
	if target == "" {
		return nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode callback: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := callbackClient.Do(req)
	if err != nil {
		return fmt.Errorf("callback: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("callback answered %s", resp.Status)
	}
	return nil
}
