package app_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// TestSlowHeadersAreCutOff: a client trickling its request headers (a
// slowloris) is disconnected once HOPPER_HTTP_READ_HEADER_TIMEOUT has
// passed since its first byte, however steadily it keeps sending; a
// normal request on the same server is answered.
func TestSlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_HTTP_READ_HEADER_TIMEOUT": timeout.String()}})
	u, err := url.Parse(s.base)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	defer conn.Close()

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
	}()
	start := time.Now()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+u.Host+"\r\n")
	require.NoError(t, err)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(testkit.Deadline)
	for i := 0; ; i++ {
		select {
		case <-closed:
			elapsed := time.Since(start)
			t.Logf("cut off after %s of trickled headers", elapsed)
			assert.GreaterOrEqual(t, elapsed, timeout-50*time.Millisecond)
			assert.Less(t, elapsed, 10*timeout, "cut off long after the header timeout")
			code, _ := s.do("GET", "/healthz", "", nil, nil)
			assert.Equal(t, 200, code)
			return
		case <-deadline:
			t.Fatal("a client trickling headers is never cut off")
		case <-tick.C:
			// One more header line each time: the client never stalls.
			_, _ = io.WriteString(conn, "X-Slow-"+strconv.Itoa(i)+": 1\r\n")
		}
	}
}

// TestEventStreamOutlivesServerTimeouts: with read and write timeouts
// far shorter than a job, its event stream still runs to the job's end
// (the stream clears its deadlines), while an ordinary request is served
// as before.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{withWorker: true, env: map[string]string{
		"HOPPER_HTTP_READ_TIMEOUT": "300ms", "HOPPER_HTTP_WRITE_TIMEOUT": "300ms",
	}})
	_, key := s.newUser("user")
	id := s.submit(key, map[string]any{"kind": "system.sleep", "payload": map[string]any{"ms": 1500}})
	start := time.Now()
	msgs := s.openEvents(key, id, "").all(t)
	types, _ := timeline(msgs)
	require.NotEmpty(t, types)
	assert.Equal(t, "succeeded", types[len(types)-1], "the stream ran to the job's end: %v", types)
	assert.Greater(t, time.Since(start), time.Second, "the stream lasted longer than the timeouts")
}

// TestMetricsOnTheirOwnPort: /metrics is not on the public API port but
// on HOPPER_METRICS_ADDR, and its expensive figures (counted in Postgres)
// are reused for HOPPER_METRICS_CACHE: jobs submitted after a scrape do
// not show until the cache expires.
func TestMetricsOnTheirOwnPort(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_METRICS_CACHE": "1h"}})
	code, body := s.do("GET", "/metrics", "", nil, nil)
	assert.Equal(t, 404, code, "%v", body)

	waiting := regexp.MustCompile(`(?m)^hopper_queue_waiting_jobs\{queue="maintenance",service="gateway"\} (\S+)$`)
	first := s.scrape()
	assert.Contains(t, first, "hopper_http_requests_total")
	before := "0"
	if m := waiting.FindStringSubmatch(first); m != nil {
		before = m[1]
	}
	_, key := s.newUser("user")
	for range 3 {
		s.submit(key, map[string]any{"kind": "system.noop"}) // no worker: they wait
	}
	again := s.scrape()
	after := "0"
	if m := waiting.FindStringSubmatch(again); m != nil {
		after = m[1]
	}
	assert.Equal(t, before, after, "the waiting count is cached, not counted per scrape")
	assert.NotEqual(t, first, again, "the cheap figures (request counts) are live")

	resp, err := http.Get(s.metrics + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}
