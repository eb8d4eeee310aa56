package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/hopperq/hopper/pkg/testkit"
	"github.com/hopperq/hopper/services/gateway/app"
)

// replica is one more gateway on the stack's schema and prefix (another
// replica behind the same load balancer), which the test can stop.
type replica struct {
	*stack // do, submit… against this replica
	stop   func() error
}

// startGateway runs another gateway sharing s's configuration on its own
// port, until stop or the end of the test.
func (s *stack) startGateway() *replica {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrCh := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, s.cfg, zaptest.NewLogger(s.t).Named("gateway-b"), app.Options{
			OnListen: func(a string) { addrCh <- a },
		})
	}()
	var (
		once    sync.Once
		stopErr error
	)
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(testkit.Deadline):
				s.t.Error("second gateway did not stop")
			}
		})
		return stopErr
	}
	s.t.Cleanup(func() { assert.NoError(s.t, stop(), "second gateway stopped with an error") })
	var addr string
	select {
	case addr = <-addrCh:
	case err := <-done:
		s.t.Fatalf("second gateway exited at start: %v", err)
	case <-time.After(testkit.Deadline):
		s.t.Fatal("second gateway did not listen")
	}
	r := &replica{stack: &stack{t: s.t, base: "http://" + addr, admin: s.admin, cfg: s.cfg, getenv: s.getenv}, stop: stop}
	testkit.WaitFor(s.t, testkit.Deadline, func() bool {
		code, body := r.do("GET", "/readyz", "", nil, nil)
		return code == 200 && body["status"] == "ready"
	}, "second gateway ready")
	return r
}

// sseMessage is one Server-Sent Events message as a client received it.
type sseMessage struct {
	ID       string
	Event    string
	Data     map[string]any
	Received time.Time
}

// dbTime is when the database recorded the change the message reports
// (the data's "at").
func (m sseMessage) dbTime(t *testing.T) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, m.Data["at"].(string))
	require.NoError(t, err)
	return at
}

// eventStream is an open GET /v1/jobs/{id}/events response read by a
// background goroutine: Messages closes when the server ends the stream.
type eventStream struct {
	Messages <-chan sseMessage
	Header   http.Header
	// Close hangs up (the client leaving).
	Close func()
}

// openEvents opens job id's event stream on s with key (and Last-Event-ID
// when lastEventID is set) and expects a 200 event stream. The stream is
// closed when the test ends.
func (s *stack) openEvents(key, id, lastEventID string) *eventStream {
	s.t.Helper()
	return s.openStream(key, "/v1/jobs/"+id+"/events", lastEventID)
}

// openStream opens the event stream at path (see openEvents); Close ends
// it early.
func (s *stack) openStream(key, path, lastEventID string) *eventStream {
	s.t.Helper()
	t := s.t
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		_ = resp.Body.Close()
		t.Fatalf("stream %s: status %d", path, resp.StatusCode)
	}
	msgs := make(chan sseMessage, 256)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(msgs)
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
		var data strings.Builder
		for sc.Scan() {
			line := sc.Text()
			if line == "" { // dispatch
				if m.Event != "" || data.Len() > 0 {
					m.Received = time.Now()
					m.Data = map[string]any{}
					if err := json.Unmarshal([]byte(data.String()), &m.Data); err != nil {
						t.Errorf("message data %q: %v", data.String(), err)
					}
					msgs <- m
				}
				m, data = sseMessage{}, strings.Builder{}
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue // comment (keepalive)
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				m.ID = value
			case "event":
				m.Event = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
		}
	}()
	closeStream := sync.OnceFunc(func() {
		cancel()
		_ = resp.Body.Close()
		for range msgs { // unblock the reader
		}
		<-readerDone
	})
	t.Cleanup(closeStream)
	return &eventStream{Messages: msgs, Header: resp.Header, Close: closeStream}
}

// next returns the stream's next message; ok is false once the server
// ended the stream.
func (e *eventStream) next(t *testing.T) (m sseMessage, ok bool) {
	t.Helper()
	select {
	case m, ok = <-e.Messages:
		return m, ok
	case <-time.After(testkit.Deadline):
		t.Fatal("no event-stream message in time")
		return sseMessage{}, false
	}
}

// all reads the stream until the server ends it.
func (e *eventStream) all(t *testing.T) []sseMessage {
	t.Helper()
	var out []sseMessage
	for {
		m, ok := e.next(t)
		if !ok {
			return out
		}
		out = append(out, m)
	}
}

// timeline is the stream's timeline messages (those with an id) as
// event types, and their ids.
func timeline(msgs []sseMessage) (types, ids []string) {
	for _, m := range msgs {
		if m.ID != "" {
			types = append(types, m.Event)
			ids = append(ids, m.ID)
		}
	}
	return types, ids
}
