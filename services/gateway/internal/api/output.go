package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// OutputSource delivers the notes of appended output
// (*jobstore.OutputListener).
type OutputSource interface {
	Subscribe(jobID uuid.UUID) (<-chan jobstore.OutputNote, func())
	Listening() bool
}

// outputReadBatch is how many chunks one read of a stream takes.
const outputReadBatch = 1000

// outputChunkData is the data of an output message.
type outputChunkData struct {
	Seq     int64  `json:"seq"`
	Attempt int    `json:"attempt"`
	Text    string `json:"text"`
}

// outputEndData is the data of the end message.
type outputEndData struct {
	JobID   string     `json:"job_id"`
	State   jobs.State `json:"state"`
	LastSeq int64      `json:"last_seq"`
}

// OutputText is GET /v1/jobs/{id}/output?format=text's answer.
type OutputText struct {
	JobID   string     `json:"job_id"`
	State   jobs.State `json:"state"`
	Attempt int        `json:"attempt"`
	Text    string     `json:"text"`
	LastSeq int64      `json:"last_seq"`
}

// jobOutput serves a job's output chunks (GET /v1/jobs/{id}/output) as
// Server-Sent Events: "event: output" per chunk with id = its sequence
// number (resume with Last-Event-ID), then "event: end" (no id) once the
// job is terminal and every chunk was sent. With ?format=text it answers
// the last attempt's output as one JSON text instead.
func (a *API) jobOutput(c *gin.Context) {
	job, ok := a.loadJob(c)
	if !ok {
		return
	}
	switch c.Query("format") {
	case "", "sse":
	case "text":
		a.jobOutputText(c, job)
		return
	default:
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "format: want sse or text", nil)
		return
	}
	ss, ok := a.startJobStream(c, job.ID, "the sequence number of a chunk")
	if !ok {
		return
	}
	defer ss.end()
	// Subscribe before the first read: no append can slip between.
	var notes <-chan jobstore.OutputNote
	if a.opts.Output != nil {
		var stop func()
		notes, stop = a.opts.Output.Subscribe(job.ID)
		defer stop()
	}

	log := a.log.With(hlog.JobID(job.ID.String()))
	st := &outputStream{a: a, out: openSSE(c), jobID: job.ID, next: ss.after + 1, p: ss.p, open: ss.open, log: log}
	reason := st.run(c.Request.Context(), job.State, notes, ss.wake)
	log.Debug("output stream closed", zap.String("reason", reason))
}

func (a *API) jobOutputText(c *gin.Context, job jobstore.Job) {
	var (
		chunks []jobstore.OutputChunk
		after  int64
	)
	// The total is bounded by the attempts' limits; read it in pages.
	for {
		page, err := a.db.jobs.ReadOutput(c.Request.Context(), job.ID, after, outputReadBatch)
		if err != nil {
			a.internalError(c, "read output", err)
			return
		}
		chunks = append(chunks, page...)
		if len(page) < outputReadBatch {
			break
		}
		after = page[len(page)-1].Seq
	}
	out := OutputText{JobID: job.ID.String(), State: job.State}
	var b strings.Builder
	for _, ch := range chunks {
		if ch.Attempt != out.Attempt {
			// A retry starts the text over: the last attempt's is the answer.
			b.Reset()
			out.Attempt = ch.Attempt
		}
		b.WriteString(ch.Text)
		out.LastSeq = ch.Seq
	}
	out.Text = b.String()
	c.JSON(http.StatusOK, out)
}

// outputStream is what one client has been sent.
type outputStream struct {
	a     *API
	out   *sseWriter
	jobID uuid.UUID
	next  int64 // the next sequence number to send
	// p and open are the caller and its place among the open streams:
	// the stream ends when p's credential stops holding.
	p    principal
	open *openStream
	log  *zap.Logger
}

// run sends the stored chunks, then live ones from notes (reading what a
// note does not carry or what was missed), until the job is over and all
// was sent, the client leaves, the server shuts down or the caller's
// credential stops holding (as jobEvents).
func (st *outputStream) run(ctx context.Context, state jobs.State, notes <-chan jobstore.OutputNote, wake <-chan struct{}) string {
	keepAlive := time.NewTicker(eventsKeepAlive)
	defer keepAlive.Stop()
	recheck := time.NewTicker(st.a.opts.Access.StreamRecheck)
	defer recheck.Stop()
	poll := time.NewTicker(eventsPoll)
	defer poll.Stop()
	if err := st.catchUp(ctx); err != nil {
		return err.Error()
	}
	for {
		if state.Terminal() {
			// Appends need a running attempt: after the end, what is
			// stored is all there is.
			if err := st.catchUp(ctx); err != nil {
				return err.Error()
			}
			err := st.out.message(0, "end", outputEndData{JobID: st.jobID.String(), State: state, LastSeq: st.next - 1})
			if err != nil {
				return "client gone: " + err.Error()
			}
			return "job finished"
		}
		select {
		case <-ctx.Done():
			return "client gone"
		case <-st.a.opts.ShuttingDown:
			return "server shutting down"
		case <-keepAlive.C:
			if err := st.out.comment("keepalive"); err != nil {
				return "client gone: " + err.Error()
			}
		case <-recheck.C:
			if ended := st.a.credentialEnded(ctx, st.p, st.log); ended != "" {
				return ended
			}
		case <-st.open.check:
			if ended := st.a.credentialEnded(ctx, st.p, st.log); ended != "" {
				return ended
			}
		case n := <-notes:
			if err := st.note(ctx, n); err != nil {
				return err.Error()
			}
		case <-poll.C:
			if st.a.notificationsFlow() && st.a.opts.Output != nil && st.a.opts.Output.Listening() {
				continue
			}
			if err := st.catchUp(ctx); err != nil {
				return err.Error()
			}
			s, err := st.state(ctx)
			if err != nil {
				return err.Error()
			}
			state = s
		case <-wake:
			s, err := st.state(ctx)
			if err != nil {
				return err.Error()
			}
			state = s
		}
	}
}

// note sends a live batch: from the note itself when it carries the
// chunks and follows on what was sent, else by reading.
func (st *outputStream) note(ctx context.Context, n jobstore.OutputNote) error {
	switch {
	case n.Resync || n.Seq > st.next || n.Chunks == nil:
		if n.Last() >= st.next || n.Resync {
			return st.catchUp(ctx)
		}
		return nil
	}
	for i, text := range n.Chunks {
		seq := n.Seq + int64(i)
		if seq < st.next {
			continue // sent already (read before the note came)
		}
		if err := st.send(jobstore.OutputChunk{Seq: seq, Attempt: n.Attempt, Text: text}); err != nil {
			return err
		}
	}
	return nil
}

// catchUp sends every stored chunk from st.next on.
func (st *outputStream) catchUp(ctx context.Context) error {
	for {
		page, err := st.a.db.jobs.ReadOutput(ctx, st.jobID, st.next-1, outputReadBatch)
		if err != nil {
			if ctx.Err() != nil {
				return errors.New("client gone")
			}
			return errors.New("read output failed: " + err.Error())
		}
		for _, ch := range page {
			if err := st.send(ch); err != nil {
				return err
			}
		}
		if len(page) < outputReadBatch {
			return nil
		}
	}
}

func (st *outputStream) send(ch jobstore.OutputChunk) error {
	err := st.out.message(ch.Seq, "output", outputChunkData{Seq: ch.Seq, Attempt: ch.Attempt, Text: ch.Text})
	if err != nil {
		return errors.New("client gone: " + err.Error())
	}
	st.next = ch.Seq + 1
	return nil
}

// state reads the job's state.
func (st *outputStream) state(ctx context.Context) (jobs.State, error) {
	job, err := st.a.db.jobs.GetJob(ctx, nil, st.jobID)
	switch {
	case err == nil:
		return job.State, nil
	case errors.Is(err, pg.ErrNotFound):
		return "", errors.New("job deleted")
	case ctx.Err() != nil:
		return "", errors.New("client gone")
	default:
		return "", errors.New("read job failed: " + err.Error())
	}
}

// checkOutputBatch checks a batch of output chunks a pull worker or a push
// target sends (1 to MaxOutputBatch, each at most MaxOutputChunkBytes)
// and removes NULs, which Postgres text refuses (JSON strings decode to
// valid UTF-8 already).
func checkOutputBatch(c *gin.Context, chunks []string) bool {
	if len(chunks) == 0 || len(chunks) > jobstore.MaxOutputBatch {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest,
			"chunks: want 1 to "+strconv.Itoa(jobstore.MaxOutputBatch)+" strings", nil)
		return false
	}
	for i, ch := range chunks {
		if len(ch) > jobstore.MaxOutputChunkBytes {
			httpx.Abort(c, http.StatusRequestEntityTooLarge, httpx.CodeTooLarge,
				"chunks["+strconv.Itoa(i)+"]: at most "+strconv.Itoa(jobstore.MaxOutputChunkBytes)+" bytes", nil)
			return false
		}
		chunks[i] = strings.ReplaceAll(ch, "\x00", "")
	}
	return true
}

// outputLimited answers an append refused by the attempt's output limit.
func (a *API) outputLimited(c *gin.Context) {
	httpx.Abort(c, http.StatusRequestEntityTooLarge, "output_limit", "the attempt's output would pass its limit; nothing of this batch was stored",
		map[string]any{"limit_bytes": a.opts.OutputMaxBytes})
}

// splitOutput cuts text into chunks of at most MaxOutputChunkBytes, on
// rune boundaries.
func splitOutput(text string) []string {
	var out []string
	for text != "" {
		n := len(text)
		if n > jobstore.MaxOutputChunkBytes {
			// JSON strings decode to valid UTF-8: a rune starts within
			// its last 4 bytes.
			n = cutRunes(text, jobstore.MaxOutputChunkBytes)
		}
		out = append(out, text[:n])
		text = text[n:]
	}
	return out
}
