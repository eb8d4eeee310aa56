package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/store/pg"
)

// openSSE answers 200 with an event stream's headers and sends them at
// once, even before there is anything to send, and returns the writer.
func openSSE(c *gin.Context) *sseWriter {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	c.Status(http.StatusOK)
	// A stream outlives the server's read and write timeouts, which suit
	// a request and its answer: it ends with what it streams, its client
	// or the shutdown instead. (The read timeout would cancel the
	// request's context through the server's background read.)
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Time{}) // unsupported (a test recorder): nothing to clear
	_ = rc.SetWriteDeadline(time.Time{})
	c.Writer.Flush()
	return newSSEWriter(c.Writer)
}

// streamLoop is one live stream's cycle: send what changed, wait for a
// wake-up (or a poll tick, or a keepalive), read again.
type streamLoop struct {
	out *sseWriter
	// send writes what changed since the last send and reports whether
	// the stream is over.
	send func() (done bool, err error)
	// read refreshes what send sends; its error ends the stream after
	// eventsMaxReadFailures in a row, or at once for pg.ErrNotFound (the
	// thing streamed was deleted).
	read func(ctx context.Context) error
	// pollAlways reads on every poll tick; otherwise ticks are skipped
	// while notifications flow.
	pollAlways bool
	// minGap spaces reads (0: none).
	minGap time.Duration
	what   string // "job", "workflow": in the end reasons and logs
	// p is the caller, checked again every Access.StreamRecheck and when
	// open signals that Postgres announced a change of its key or user.
	p    principal
	open *openStream
}

// runStream runs l until the stream is over, the client leaves, the
// server shuts down or the caller's credential stops holding, and returns
// why it ended.
func (a *API) runStream(ctx context.Context, l streamLoop, wake <-chan struct{}, log *zap.Logger) string {
	keepAlive := time.NewTicker(eventsKeepAlive)
	defer keepAlive.Stop()
	recheck := time.NewTicker(a.opts.Access.StreamRecheck)
	defer recheck.Stop()
	poll := time.NewTicker(eventsPoll)
	defer poll.Stop()
	failures := 0
	var lastRead time.Time
	for {
		if failures == 0 {
			done, err := l.send()
			if err != nil {
				return "client gone: " + err.Error()
			}
			if done {
				return l.what + " finished"
			}
		}
		select {
		case <-ctx.Done():
			return "client gone"
		case <-a.opts.ShuttingDown:
			// The client reconnects, to another replica.
			return "server shutting down"
		case <-keepAlive.C:
			if err := l.out.comment("keepalive"); err != nil {
				return "client gone: " + err.Error()
			}
			continue
		case <-recheck.C:
			if ended := a.credentialEnded(ctx, l.p, log); ended != "" {
				return ended
			}
			continue
		case <-l.open.check:
			if ended := a.credentialEnded(ctx, l.p, log); ended != "" {
				return ended
			}
			continue
		case <-poll.C:
			if !l.pollAlways && a.notificationsFlow() && failures == 0 {
				continue
			}
		case <-wake:
		}
		if gap := l.minGap - time.Since(lastRead); gap > 0 {
			t := time.NewTimer(gap)
			select {
			case <-ctx.Done():
				t.Stop()
				return "client gone"
			case <-t.C:
			}
		}
		lastRead = time.Now()
		err := l.read(ctx)
		switch {
		case err == nil:
			failures = 0
		case ctx.Err() != nil:
			return "client gone"
		case errors.Is(err, pg.ErrNotFound):
			return l.what + " deleted"
		default:
			failures++
			log.Warn("event stream: read "+l.what+" failed", zap.Int("failures", failures), zap.Error(err))
			if failures >= eventsMaxReadFailures {
				return "database unavailable"
			}
		}
	}
}

// sseWriter writes Server-Sent Events messages and flushes each one, so a
// message reaches the client as soon as it is written rather than when a
// buffer fills.
type sseWriter struct {
	w     io.Writer
	flush func()
}

func newSSEWriter(w http.ResponseWriter) *sseWriter {
	s := &sseWriter{w: w, flush: func() {}}
	if f, ok := w.(http.Flusher); ok {
		s.flush = f.Flush
	}
	return s
}

// message writes one message: id (omitted when 0, which leaves the
// client's last event id as it was), event type and data as one line of
// JSON (json.Marshal never emits a raw newline).
func (s *sseWriter) message(id int64, event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	var b bytes.Buffer
	if id > 0 {
		b.WriteString("id: " + strconv.FormatInt(id, 10) + "\n")
	}
	b.WriteString("event: " + event + "\n")
	b.WriteString("data: ")
	b.Write(raw)
	b.WriteString("\n\n")
	return s.write(b.Bytes())
}

// comment writes a comment line, which clients ignore; it keeps idle
// connections (and proxies in between) from timing out.
func (s *sseWriter) comment(text string) error {
	return s.write([]byte(": " + text + "\n\n"))
}

func (s *sseWriter) write(p []byte) error {
	if _, err := s.w.Write(p); err != nil {
		return fmt.Errorf("write event stream: %w", err)
	}
	s.flush()
	return nil
}
