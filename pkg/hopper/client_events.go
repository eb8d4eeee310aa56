package hopper

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Events follows job id's event stream (GET /v1/jobs/{id}/events): its
// timeline events and progress changes, in order, until the job is over:
// the last event is the one that left it succeeded, failed or cancelled
// (a retried job's stream goes past its earlier failures). A finished
// job's whole timeline is replayed.
//
// A dropped or silent connection is resumed with Last-Event-ID, so no
// timeline event is lost or repeated, and a progress change the resumed
// stream sends again is not repeated either. After several connections in
// a row fail without delivering anything, or on an error answer that a
// retry cannot fix (404, 401…), the sequence ends with a non-nil error as
// its last pair. Stop early by breaking out of the loop.
//
//	for ev, err := range c.Events(ctx, id) {
//		if err != nil { return err }
//		fmt.Println(ev.Type, ev.Progress)
//	}
func (c *Client) Events(ctx context.Context, id string) iter.Seq2[JobEvent, error] {
	return func(yield func(JobEvent, error) bool) {
		stopped := false
		err := c.follow(ctx, id, func(e JobEvent) bool {
			stopped = !yield(e, nil)
			return !stopped
		})
		if err != nil && !stopped {
			yield(JobEvent{}, fmt.Errorf("hopper: events of job %s: %w", id, err))
		}
	}
}

// Wait blocks until job id is over and returns it as Get does, with its
// result (JobInfo.Result, DecodeResult), error and timeline. A job that
// failed or was cancelled is not an error: check JobInfo.State.
//
// It follows the event stream (see Events) and falls back to reading the
// job every poll interval (WithPollInterval) when the stream fails
// repeatedly. It returns an error when ctx ends, or on an answer that
// waiting longer cannot change (ErrNotFound, ErrUnauthorized…).
func (c *Client) Wait(ctx context.Context, id string) (JobInfo, error) {
	err := c.follow(ctx, id, func(JobEvent) bool { return true })
	var apiErr *APIError
	if err != nil && (ctx.Err() != nil || errors.Is(err, errEmptyJobID) || errors.As(err, &apiErr) && !retryableError(err)) {
		return JobInfo{}, fmt.Errorf("hopper: wait for job %s: %w", id, err)
	}
	// The stream ended with the job (it is read once), or kept failing or
	// was unreadable (it is polled).
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for {
		job, err := c.getJob(ctx, id)
		if err == nil && job.State.Terminal() {
			return job, nil
		}
		if err != nil && !retryableError(err) {
			return JobInfo{}, fmt.Errorf("hopper: wait for job %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return JobInfo{}, fmt.Errorf("hopper: wait for job %s: %w (last error: %w)", id, ctx.Err(), err)
			}
			return JobInfo{}, fmt.Errorf("hopper: wait for job %s (last state %s): %w", id, job.State, ctx.Err())
		case <-tick.C:
		}
	}
}

// follow delivers the job's events to on until the stream ends after the
// terminal event (nil), until on returns false (nil), or until it gives
// up.
func (c *Client) follow(ctx context.Context, id string, on func(JobEvent) bool) error {
	path, err := jobPath(id, "/events")
	if err != nil {
		return err
	}
	st := &streamState{}
	return c.reconnect(ctx, func(ctx context.Context) (bool, bool, error) { return c.streamOnce(ctx, path, st, on) })
}

// reconnect runs once, a stream's connection, again and again until it
// reports done (nil), ctx ends, an error a retry cannot fix, or
// maxFailures connections in a row fail without progress; it waits a
// jittered, doubling backoff in between (or the answer's Retry-After).
func (c *Client) reconnect(ctx context.Context, once func(context.Context) (progressed, done bool, err error)) error {
	failures := 0
	delay := c.backoff
	for {
		progressed, done, err := once(ctx)
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryableError(err) {
			return err
		}
		if progressed {
			// The connection worked for a while: start counting afresh.
			failures, delay = 0, c.backoff
		}
		failures++
		if failures >= c.maxFailures {
			return fmt.Errorf("event stream failed %d times in a row: %w", failures, err)
		}
		wait := delay
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.RetryAfter > wait {
			wait = apiErr.RetryAfter
		}
		// Jitter, so clients dropped together by one gateway restart do
		// not all come back in the same instant.
		wait = wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// streamState is what the client has delivered so far, across
// reconnections.
type streamState struct {
	lastID   int64 // last timeline event delivered: the Last-Event-ID to resume after
	terminal bool  // whether that event left the job in a terminal state
	// last progress delivered; a resumed stream sends the current progress
	// again, which is not a change.
	progress int
	status   string
}

// errStreamProtocol marks an answer that is not an event stream the
// client can read; reconnecting would read the same.
var errStreamProtocol = errors.New("not a readable event stream")

// streamOnce reads one connection of the stream. progressed reports that
// it delivered a new event or a keepalive (the link worked); done that the
// stream ended after the terminal event or on asked to stop.
func (c *Client) streamOnce(ctx context.Context, path string, st *streamState, on func(JobEvent) bool) (progressed, done bool, err error) {
	conn, err := c.connect(ctx, path, st.lastID)
	if err != nil {
		return false, false, err
	}
	defer conn.close()
	r, wrap := conn.sseReader, conn.wrap
	for {
		m, err := r.next()
		if errors.Is(err, io.EOF) {
			// The gateway ends the stream once the job is over and its
			// terminal event sent. Any other end is a replica shutting
			// down or a dropped link. (A terminal event is not the end by
			// itself: a retried job's timeline goes on past its first
			// failure.)
			if st.terminal {
				return progressed, true, nil
			}
			return progressed || r.comments > 0, false, wrap(io.ErrUnexpectedEOF)
		}
		if err != nil {
			return progressed || r.comments > 0, false, wrap(err)
		}
		e, err := m.jobEvent()
		if err != nil {
			return progressed, false, wrap(err)
		}
		if e.IsProgress() {
			if e.Progress == st.progress && e.StatusMessage == st.status {
				continue
			}
			st.progress, st.status = e.Progress, e.StatusMessage
		} else if e.ID > 0 {
			if e.ID <= st.lastID {
				continue // already delivered (a server that ignored Last-Event-ID)
			}
			st.lastID = e.ID
			st.terminal = e.Terminal()
		}
		progressed = true
		if !on(e) {
			return true, true, nil
		}
	}
}

// sseConn is one open event stream.
type sseConn struct {
	*sseReader
	// wrap names the stream (and its silence, when that cut it) in an
	// error.
	wrap  func(error) error
	close func()
}

// connect opens the event stream at path (see openStream). A connection
// that says nothing for the idle timeout (not even the gateway's
// keepalive) is cut, to be resumed: a proxy may have dropped it without a
// FIN.
func (c *Client) connect(ctx context.Context, path string, lastID int64) (*sseConn, error) {
	ctx, cancel := context.WithCancel(ctx)
	var idled atomic.Bool
	idle := time.AfterFunc(c.idle, func() { idled.Store(true); cancel() })
	wrap := func(err error) error {
		if idled.Load() {
			return fmt.Errorf("GET %s: silent for %s: %w", path, c.idle, err)
		}
		return fmt.Errorf("GET %s: %w", path, err)
	}
	body, err := c.openStream(ctx, path, lastID)
	if err != nil {
		idle.Stop()
		cancel()
		return nil, wrap(err)
	}
	return &sseConn{
		sseReader: newSSEReader(&activityReader{r: body, on: func() { idle.Reset(c.idle) }}),
		wrap:      wrap,
		close:     func() { idle.Stop(); body.Close(); cancel() },
	}, nil
}

// openStream opens the event stream at path, resuming after lastID when
// it is not 0; an answer that is not a stream is an error (an *APIError
// for an error answer).
func (c *Client) openStream(ctx context.Context, path string, lastID int64) (io.ReadCloser, error) {
	req, err := c.newRequest(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		raw, err := c.readBody(resp.Body)
		if err != nil {
			return nil, err
		}
		return nil, decodeAPIError(resp, raw)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: Content-Type %q", errStreamProtocol, resp.Header.Get("Content-Type"))
	}
	return resp.Body, nil
}

// retryableError reports whether err may pass if the call is made again:
// transport failures and 408, 429 and 5xx answers, not other API errors,
// protocol errors or the caller's context ending.
func retryableError(err error) bool {
	var apiErr *APIError
	switch {
	case err == nil:
		return true
	case errors.As(err, &apiErr):
		return apiErr.Status == http.StatusRequestTimeout || apiErr.Status == http.StatusTooManyRequests || apiErr.Status >= 500
	case errors.Is(err, errStreamProtocol), errors.Is(err, bufio.ErrTooLong):
		return false
	case errors.Is(err, ErrResponseTooLarge), errors.Is(err, errEmptyJobID):
		return false
	}
	return true
}

// activityReader calls on after every read that returned bytes.
type activityReader struct {
	r  io.Reader
	on func()
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.on()
	}
	return n, err
}

// sseMessage is one Server-Sent Events message.
type sseMessage struct {
	id    string
	event string
	data  string
}

// sseReader splits a text/event-stream body into messages (the WHATWG
// HTML "event stream interpretation"), with lines and each message's data
// capped at maxSSELine.
type sseReader struct {
	sc       *bufio.Scanner
	comments int // comment lines seen (the gateway's keepalives)
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxSSELine)
	return &sseReader{sc: sc}
}

// next returns the next message with data; io.EOF at the end of the
// stream (an unfinished last message is dropped, as the standard says).
func (r *sseReader) next() (sseMessage, error) {
	var (
		m       sseMessage
		data    strings.Builder
		hasData bool
	)
	for r.sc.Scan() {
		line := r.sc.Text()
		if line == "" {
			if hasData {
				m.data = data.String()
				return m, nil
			}
			m = sseMessage{} // nothing to dispatch
			continue
		}
		if line[0] == ':' {
			r.comments++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			m.event = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
			if data.Len() > maxSSELine {
				return sseMessage{}, fmt.Errorf("%w: a message's data is over %d bytes", errStreamProtocol, maxSSELine)
			}
		case "id":
			if !strings.ContainsRune(value, 0) {
				m.id = value
			}
		}
		// "retry" and unknown fields are ignored: reconnection is paced
		// by the client's own backoff.
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return sseMessage{}, fmt.Errorf("%w: a line is over %d bytes: %w", errStreamProtocol, maxSSELine, err)
		}
		return sseMessage{}, err
	}
	return sseMessage{}, io.EOF
}

// jobEvent decodes the message's data: a timeline event or a progress
// change.
func (m sseMessage) jobEvent() (JobEvent, error) {
	var d struct {
		JobID         string   `json:"job_id"`
		Type          string   `json:"type"`
		State         JobState `json:"state"`
		Attempt       int      `json:"attempt"`
		Message       *string  `json:"message"`
		Progress      int      `json:"progress"`
		StatusMessage string   `json:"status_message"`
		At            string   `json:"at"`
	}
	if err := json.Unmarshal([]byte(m.data), &d); err != nil {
		return JobEvent{}, fmt.Errorf("%w: event %q data: %w", errStreamProtocol, m.event, err)
	}
	e := JobEvent{Type: m.event, JobID: d.JobID, State: d.State, Attempt: d.Attempt,
		Progress: d.Progress, StatusMessage: d.StatusMessage}
	if e.Type == "" {
		e.Type = d.Type
	}
	if d.Message != nil {
		e.Message = *d.Message
	}
	if d.At != "" {
		at, err := time.Parse(time.RFC3339Nano, d.At)
		if err != nil {
			return JobEvent{}, fmt.Errorf("%w: event %q at: %w", errStreamProtocol, m.event, err)
		}
		e.At = at
	}
	if m.id != "" {
		id, err := strconv.ParseInt(m.id, 10, 64)
		if err != nil {
			return JobEvent{}, fmt.Errorf("%w: event id %q", errStreamProtocol, m.id)
		}
		e.ID = id
	}
	return e, nil
}
