package hopper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
)

// These tests pin the client's side of the protocol (request encoding,
// error decoding, the event-stream parser, resume and fallback) against
// small httptest servers. That the gateway agrees is proven against the
// real one in services/gateway/app/client_test.go.

func clientFor(t *testing.T, h http.Handler, opts ...hopper.ClientOption) *hopper.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := hopper.NewClient(srv.URL+"/", "key-1", opts...)
	require.NoError(t, err)
	return c
}

func clientCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientNewClientRefusesBadArguments(t *testing.T) {
	t.Parallel()
	for _, base := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		_, err := hopper.NewClient(base, "k")
		assert.Error(t, err, base)
	}
	_, err := hopper.NewClient("http://127.0.0.1:8080", "")
	assert.Error(t, err, "empty key")
}

func TestClientEnqueueSendsTheSubmissionAndReadsTheAnswer(t *testing.T) {
	t.Parallel()
	var got map[string]any
	var header http.Header
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Clone()
		require.Equal(t, "POST", r.Method)
		require.Equal(t, "/v1/jobs", r.URL.Path)
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"j1","state":"scheduled","links":{"self":"/v1/jobs/j1"}}`)
	}))
	runAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := c.Enqueue(clientCtx(t), "system.sleep", struct {
		MS int `json:"ms"`
	}{250},
		hopper.WithIdempotencyKey("order-7"), hopper.WithPriorityName("high"), hopper.WithRunAt(runAt),
		hopper.WithMaxAttempts(4), hopper.WithJobTimeout(90*time.Second), hopper.WithWebhookURL("https://example.com/hook"))
	require.NoError(t, err)
	assert.Equal(t, hopper.EnqueueResult{ID: "j1", State: hopper.JobStateScheduled, Replayed: true}, res)

	assert.Equal(t, "Bearer key-1", header.Get("Authorization"))
	assert.Equal(t, "order-7", header.Get("Idempotency-Key"))
	assert.Equal(t, "application/json", header.Get("Content-Type"))
	assert.Equal(t, map[string]any{
		"kind": "system.sleep", "payload": map[string]any{"ms": float64(250)}, "priority": "high",
		"run_at": "2030-01-02T03:04:05Z", "max_attempts": float64(4), "timeout": float64(90),
		"webhook_url": "https://example.com/hook",
	}, got)
}

func TestClientEnqueueWithoutOptionsSendsOnlyKindAndPayload(t *testing.T) {
	t.Parallel()
	var got map[string]any
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Empty(t, r.Header.Get("Idempotency-Key"))
		require.NoError(t, json.NewDecoder(r.Body).Decode(&got))
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id":"j2","state":"queued"}`)
	}))
	res, err := c.Enqueue(clientCtx(t), "system.noop", json.RawMessage(`{"a":1}`), hopper.WithPriority(0))
	require.NoError(t, err)
	assert.False(t, res.Replayed)
	// Priority 0 is a real level, so it is sent.
	assert.Equal(t, map[string]any{"kind": "system.noop", "payload": map[string]any{"a": float64(1)}, "priority": float64(0)}, got)
}

func TestClientEnqueueManyRefusesIdempotencyKeys(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	_, err := c.EnqueueMany(clientCtx(t), []hopper.BatchItem{
		{Kind: "system.noop"},
		{Kind: "system.noop", Options: []hopper.EnqueueOption{hopper.WithIdempotencyKey("k")}},
	})
	require.ErrorContains(t, err, "item 1")
	assert.Zero(t, calls.Load(), "refused before any request")
}

func TestClientErrorsDecodeTheAPIShape(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		header   map[string]string
		body     string
		sentinel error
		check    func(t *testing.T, e *hopper.APIError)
	}{
		{name: "422 unknown kind", status: 422, sentinel: hopper.ErrUnprocessable,
			body: `{"error":{"code":"unprocessable","message":"kind: unknown kind \"x\"","details":{"field":"kind","valid_kinds":["system.noop","system.sleep"]}}}`,
			check: func(t *testing.T, e *hopper.APIError) {
				assert.Equal(t, "unprocessable", e.Code)
				assert.Equal(t, `kind: unknown kind "x"`, e.Message)
				assert.Equal(t, "kind", e.Details.Field)
				assert.Equal(t, []string{"system.noop", "system.sleep"}, e.Details.ValidKinds)
				assert.JSONEq(t, `{"field":"kind","valid_kinds":["system.noop","system.sleep"]}`, string(e.Details.Raw))
			}},
		{name: "429 rate limited", status: 429, sentinel: hopper.ErrRateLimited, header: map[string]string{"Retry-After": "42"},
			body: `{"error":{"code":"rate_limited","message":"rate limit reached","details":{"limit":"jobs_per_hour","max":100,"used":100,"plan":"free","retry_after_seconds":42}}}`,
			check: func(t *testing.T, e *hopper.APIError) {
				assert.Equal(t, 42*time.Second, e.RetryAfter)
				assert.Equal(t, hopper.ErrorDetails{Limit: "jobs_per_hour", Plan: "free", Max: 100, Used: 100, RetryAfterSeconds: 42, Raw: e.Details.Raw}, e.Details)
			}},
		{name: "409 with job id", status: 409, sentinel: hopper.ErrConflict,
			body:  `{"error":{"code":"conflict","message":"Idempotency-Key was already used","details":{"job_id":"j9"}}}`,
			check: func(t *testing.T, e *hopper.APIError) { assert.Equal(t, "j9", e.Details.JobID) }},
		{name: "404 without details", status: 404, sentinel: hopper.ErrNotFound,
			body: `{"error":{"code":"not_found","message":"job not found"}}`,
			check: func(t *testing.T, e *hopper.APIError) {
				assert.Nil(t, e.Details.Raw)
				assert.Equal(t, "job not found (HTTP 404 not_found)", e.Error())
			}},
		{name: "a proxy's page", status: 502, body: "<html>Bad Gateway</html>",
			check: func(t *testing.T, e *hopper.APIError) {
				assert.Empty(t, e.Code)
				assert.Equal(t, "<html>Bad Gateway</html>", e.Message)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			_, err := c.Get(clientCtx(t), "j1")
			var apiErr *hopper.APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.Status)
			if tt.sentinel != nil {
				assert.ErrorIs(t, err, tt.sentinel)
			}
			for _, other := range []error{hopper.ErrNotFound, hopper.ErrConflict, hopper.ErrUnprocessable, hopper.ErrRateLimited} {
				if other != tt.sentinel {
					assert.NotErrorIs(t, err, other)
				}
			}
			tt.check(t, apiErr)
		})
	}
}

func TestClientCapsResponseBodies(t *testing.T) {
	t.Parallel()
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"j1","payload":{"x":"`+strings.Repeat("a", 2048)+`"}}`)
	}), hopper.WithMaxResponseBytes(1024))
	_, err := c.Get(clientCtx(t), "j1")
	require.ErrorIs(t, err, hopper.ErrResponseTooLarge)
}

func TestClientGetDecodesAJob(t *testing.T) {
	t.Parallel()
	c := clientFor(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/v1/jobs/a%2Fb", r.URL.EscapedPath(), "the id is one path segment")
		_, _ = io.WriteString(w, `{"id":"a/b","kind":"system.sleep","state":"succeeded","result":{"slept_ms":5},
			"error":null,"timeout_seconds":1.5,"started_at":"2030-01-02T03:04:05.5Z","finished_at":null,
			"events":[{"at":"2030-01-02T03:04:05Z","type":"created","state":"queued","attempt":0,"message":null}]}`)
	}))
	job, err := c.Get(clientCtx(t), "a/b")
	require.NoError(t, err)
	assert.Equal(t, 1500*time.Millisecond, job.Timeout)
	require.NotNil(t, job.StartedAt)
	assert.Equal(t, time.Date(2030, 1, 2, 3, 4, 5, 5e8, time.UTC), *job.StartedAt)
	assert.Nil(t, job.FinishedAt)
	assert.Empty(t, job.Error)
	require.Len(t, job.Events, 1)
	assert.Equal(t, hopper.JobStateQueued, job.Events[0].State)
	var out struct {
		SleptMS int `json:"slept_ms"`
	}
	require.NoError(t, job.DecodeResult(&out))
	assert.Equal(t, 5, out.SleptMS)
	assert.ErrorIs(t, hopper.JobInfo{ID: "x", State: hopper.JobStateRunning}.DecodeResult(&out), hopper.ErrNoResult)
}

// clientSSEServer answers /v1/jobs/{id}/events with one scripted body per
// connection (the last one repeated) and records each connection's
// Last-Event-ID; GET /v1/jobs/{id} answers job.
type clientSSEServer struct {
	bodies      []string
	lastIDs     chan string
	connections atomic.Int32
	job         func(n int) (int, string) // nth GET: status and body
	gets        atomic.Int32
}

func (s *clientSSEServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/events") {
		n := int(s.gets.Add(1))
		status, body := s.job(n)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
		return
	}
	n := int(s.connections.Add(1))
	select {
	case s.lastIDs <- r.Header.Get("Last-Event-ID"):
	default:
	}
	body := s.bodies[min(n, len(s.bodies))-1]
	if status, ok := strings.CutPrefix(body, "status "); ok {
		w.WriteHeader(map[string]int{"503": 503, "404": 404}[status[:3]])
		_, _ = io.WriteString(w, status[4:])
		return
	}
	if page, ok := strings.CutPrefix(body, "html "); ok { // a proxy's login page
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, page)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	if hang, ok := strings.CutPrefix(body, "hang "); ok {
		_, _ = io.WriteString(w, hang)
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client must give up on the silent stream
		return
	}
	_, _ = io.WriteString(w, body)
}

func newClientSSEServer(bodies ...string) *clientSSEServer {
	return &clientSSEServer{bodies: bodies, lastIDs: make(chan string, 16)}
}

func clientTimelineMsg(id int, typ, state string) string {
	return fmt.Sprintf("id: %d\nevent: %s\ndata: {\"job_id\":\"j1\",\"type\":%q,\"state\":%q,\"attempt\":1,\"message\":null,\"at\":\"2030-01-02T03:04:05Z\"}\n\n", id, typ, typ, state)
}

func clientProgressMsg(p int, msg string) string {
	return fmt.Sprintf("event: progress\ndata: {\"job_id\":\"j1\",\"state\":\"running\",\"progress\":%d,\"status_message\":%q,\"at\":\"2030-01-02T03:04:05Z\"}\n\n", p, msg)
}

func clientCollect(t *testing.T, c *hopper.Client, id string) ([]string, error) {
	t.Helper()
	var got []string
	for ev, err := range c.Events(clientCtx(t), id) {
		if err != nil {
			return got, err
		}
		if ev.IsProgress() {
			got = append(got, fmt.Sprintf("progress %d %s", ev.Progress, ev.StatusMessage))
		} else {
			got = append(got, fmt.Sprintf("%d %s %s", ev.ID, ev.Type, ev.State))
		}
	}
	return got, nil
}

func TestClientEventsParsesTheStream(t *testing.T) {
	t.Parallel()
	// Comments, CRLF line ends, a data field split over two lines, a
	// field without a space after the colon and a message without data
	// (not dispatched) are all standard event-stream text.
	body := ": keepalive\r\n\r\n" +
		"event: ignored\n\n" +
		clientTimelineMsg(1, "created", "queued") +
		strings.ReplaceAll(clientProgressMsg(40, "half"), "\n", "\r\n") +
		"id:2\nevent: started\ndata: {\"job_id\":\"j1\",\"type\":\"started\",\ndata: \"state\":\"running\",\"attempt\":1,\"message\":\"worker w1\",\"at\":\"2030-01-02T03:04:05Z\"}\n\n" +
		clientTimelineMsg(3, "succeeded", "succeeded") +
		": comment after the last message\n"
	c := clientFor(t, newClientSSEServer(body))
	got, err := clientCollect(t, c, "j1")
	require.NoError(t, err)
	assert.Equal(t, []string{"1 created queued", "progress 40 half", "2 started running", "3 succeeded succeeded"}, got)
}

func TestClientEventsFollowARetriedJobToItsLastEnd(t *testing.T) {
	t.Parallel()
	// A job that failed, was retried and succeeded: the first failure is
	// terminal but not the end of the stream.
	srv := newClientSSEServer(clientTimelineMsg(1, "created", "queued") + clientTimelineMsg(2, "failed", "failed") +
		clientTimelineMsg(3, "retried", "queued") + clientTimelineMsg(4, "succeeded", "succeeded") +
		clientTimelineMsg(5, "webhook_delivered", "succeeded"))
	c := clientFor(t, srv)
	got, err := clientCollect(t, c, "j1")
	require.NoError(t, err)
	assert.Equal(t, []string{"1 created queued", "2 failed failed", "3 retried queued",
		"4 succeeded succeeded", "5 webhook_delivered succeeded"}, got)
	assert.Equal(t, int32(1), srv.connections.Load(), "the end after a terminal state is the end")
}

func TestClientEventsResumeWithLastEventID(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer(
		// dropped after the first event and a progress change
		clientTimelineMsg(1, "created", "queued")+clientTimelineMsg(2, "started", "running")+clientProgressMsg(30, "a third"),
		// the resumed stream sends the current progress again, first
		clientProgressMsg(30, "a third")+clientProgressMsg(60, "two thirds")+clientTimelineMsg(3, "succeeded", "succeeded"),
	)
	c := clientFor(t, srv)
	got, err := clientCollect(t, c, "j1")
	require.NoError(t, err)
	assert.Equal(t, []string{"1 created queued", "2 started running", "progress 30 a third",
		"progress 60 two thirds", "3 succeeded succeeded"}, got, "nothing lost, nothing repeated")
	assert.Equal(t, "", <-srv.lastIDs)
	assert.Equal(t, "2", <-srv.lastIDs)
}

func TestClientEventsResumeASilentStream(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer("hang "+clientTimelineMsg(1, "created", "queued"), clientTimelineMsg(2, "succeeded", "succeeded"))
	c := clientFor(t, srv, hopper.WithStreamIdleTimeout(200*time.Millisecond))
	got, err := clientCollect(t, c, "j1")
	require.NoError(t, err)
	assert.Equal(t, []string{"1 created queued", "2 succeeded succeeded"}, got)
	assert.Equal(t, int32(2), srv.connections.Load())
}

func TestClientEventsStopOnAnswersRetriesCannotFix(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer(`status 404 {"error":{"code":"not_found","message":"job not found"}}`)
	c := clientFor(t, srv)
	_, err := clientCollect(t, c, "j1")
	require.ErrorIs(t, err, hopper.ErrNotFound)
	assert.Equal(t, int32(1), srv.connections.Load(), "a 404 is not retried")

	// A line over the cap is not an event stream the client will read.
	srv = newClientSSEServer("data: " + strings.Repeat("x", 2<<20) + "\n\n")
	c = clientFor(t, srv)
	_, err = clientCollect(t, c, "j1")
	require.ErrorContains(t, err, "line is over")
	assert.Equal(t, int32(1), srv.connections.Load(), "not retried")
}

func TestClientEventsGiveUpAfterRepeatedFailures(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer(`status 503 {"error":{"code":"unavailable","message":"database unavailable"}}`)
	c := clientFor(t, srv)
	_, err := clientCollect(t, c, "j1")
	require.ErrorIs(t, err, hopper.ErrUnavailable)
	assert.Equal(t, int32(5), srv.connections.Load())
}

func TestClientEventsStopWhenTheLoopBreaks(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer(clientTimelineMsg(1, "created", "queued") + clientTimelineMsg(2, "started", "running") + clientTimelineMsg(3, "succeeded", "succeeded"))
	c := clientFor(t, srv)
	n := 0
	for _, err := range c.Events(clientCtx(t), "j1") {
		require.NoError(t, err)
		n++
		break
	}
	assert.Equal(t, 1, n)
}

func TestClientWaitFallsBackToPolling(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer(`status 503 {"error":{"code":"unavailable","message":"no stream"}}`)
	srv.job = func(n int) (int, string) {
		if n < 3 {
			return 200, `{"id":"j1","state":"running"}`
		}
		return 200, `{"id":"j1","state":"succeeded","result":{"ok":true}}`
	}
	c := clientFor(t, srv, hopper.WithPollInterval(10*time.Millisecond))
	job, err := c.Wait(clientCtx(t), "j1")
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateSucceeded, job.State)
	assert.JSONEq(t, `{"ok":true}`, string(job.Result))
	assert.Equal(t, int32(5), srv.connections.Load(), "the stream was tried before polling")
	assert.Equal(t, int32(3), srv.gets.Load())
}

func TestClientWaitPollsWhenTheStreamIsUnreadable(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer("html <html>sign in</html>")
	srv.job = func(int) (int, string) { return 200, `{"id":"j1","state":"cancelled"}` }
	c := clientFor(t, srv)
	job, err := c.Wait(clientCtx(t), "j1")
	require.NoError(t, err)
	assert.Equal(t, hopper.JobStateCancelled, job.State)
	assert.Equal(t, int32(1), srv.connections.Load(), "an unreadable stream is not retried")

	_, err = c.Wait(clientCtx(t), " ")
	require.Error(t, err, "an empty id is refused, not polled")
}

func TestClientWaitReadsTheJobAfterTheTerminalEvent(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer(clientTimelineMsg(1, "created", "queued") + clientTimelineMsg(2, "failed", "failed"))
	srv.job = func(int) (int, string) { return 200, `{"id":"j1","state":"failed","error":"boom"}` }
	c := clientFor(t, srv)
	job, err := c.Wait(clientCtx(t), "j1")
	require.NoError(t, err, "a failed job is an answer, not an error")
	assert.Equal(t, hopper.JobStateFailed, job.State)
	assert.Equal(t, "boom", job.Error)
	assert.Equal(t, int32(1), srv.gets.Load())
}

func TestClientWaitEndsWithTheContext(t *testing.T) {
	t.Parallel()
	srv := newClientSSEServer("hang " + clientTimelineMsg(1, "created", "queued"))
	c := clientFor(t, srv)
	ctx, cancel := context.WithCancel(clientCtx(t))
	go func() {
		<-srv.lastIDs // connected
		cancel()
	}()
	_, err := c.Wait(ctx, "j1")
	require.ErrorIs(t, err, context.Canceled)
}
