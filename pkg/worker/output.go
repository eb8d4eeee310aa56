package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// DefaultOutputFlushEvery is the longest a chunk waits in the worker
// before its batch is written (docs/PERFORMANCE.md, O1: a row per chunk
// costs several times the database time for ~20 ms less latency).
const DefaultOutputFlushEvery = 20 * time.Millisecond

// ErrOutputLimit: the attempt's output reached its byte limit
// (HOPPER_OUTPUT_MAX_BYTES); the text was not stored.
var ErrOutputLimit = jobstore.ErrOutputLimit

// outputStore is the store call Job.Output makes.
type outputStore interface {
	AppendOutput(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, chunks []string, maxBytes int64) (int64, bool, error)
}

// outputWriter buffers one attempt's output chunks and appends them in
// batches: the first chunk after a quiet spell is written at once, later
// ones wait until flushEvery after the previous write, so a token stream
// costs one statement per window instead of one per token, and a lone
// chunk no added latency. A full batch (MaxOutputBatch) is written at
// once by the caller, which bounds memory and slows a runaway handler to
// the database's pace.
type outputWriter struct {
	store    outputStore
	jobID    uuid.UUID
	attempt  int
	workerID string
	every    time.Duration
	maxBytes int64
	onSignal func(cancelRequested bool, err error)
	ctx      context.Context // the attempt's; flushes after it ended use finalCtx

	flushMu sync.Mutex // orders writes: taken before the buffer
	mu      sync.Mutex
	buf     []string
	bytes   int64 // accepted this attempt (buffered or written)
	last    time.Time
	timer   *time.Timer
	err     error // a write's failure, returned by the next Output
}

// write splits text into chunks of at most MaxOutputChunkBytes and
// buffers them.
func (w *outputWriter) write(text string) error {
	text = cleanOutput(text)
	if text == "" {
		return nil
	}
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.bytes+int64(len(text)) > w.maxBytes {
		w.mu.Unlock()
		return fmt.Errorf("output of job %s: %d bytes more would pass %d: %w", w.jobID, len(text), w.maxBytes, ErrOutputLimit)
	}
	w.bytes += int64(len(text))
	for text != "" {
		n := cutAt(text, jobstore.MaxOutputChunkBytes)
		w.buf = append(w.buf, text[:n])
		text = text[n:]
	}
	full := len(w.buf) >= jobstore.MaxOutputBatch
	if !full && w.timer == nil {
		w.timer = time.AfterFunc(max(0, time.Until(w.last.Add(w.every))), func() { _ = w.flush(w.ctx, false) })
	}
	w.mu.Unlock()
	if full {
		return w.flush(w.ctx, false)
	}
	return nil
}

// flush writes one batch of what is buffered (at most MaxOutputBatch),
// or with all everything. Chunks arriving meanwhile start the next
// window.
func (w *outputWriter) flush(ctx context.Context, all bool) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	for {
		w.mu.Lock()
		if w.timer != nil {
			w.timer.Stop()
			w.timer = nil
		}
		n := min(len(w.buf), jobstore.MaxOutputBatch)
		batch := w.buf[:n:n]
		w.buf = w.buf[n:]
		if len(w.buf) == 0 {
			w.buf = nil
		}
		w.last = time.Now()
		w.mu.Unlock()
		if n == 0 {
			return nil
		}
		_, cancelRequested, err := w.store.AppendOutput(ctx, w.jobID, w.attempt, w.workerID, batch, w.maxBytes)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("write output: %w", err)
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
		if w.onSignal != nil && (err == nil || errors.Is(err, jobstore.ErrLeaseLost)) {
			w.onSignal(cancelRequested, err)
		}
		if err != nil {
			return err
		}
		if !all {
			// What did not fit in this batch goes in the next window.
			w.mu.Lock()
			if len(w.buf) > 0 && w.timer == nil {
				w.timer = time.AfterFunc(w.every, func() { _ = w.flush(w.ctx, false) })
			}
			w.mu.Unlock()
			return nil
		}
	}
}

// close writes the rest before the attempt's outcome, so a client that
// sees the job finished can read its whole output.
func (w *outputWriter) close(ctx context.Context) error {
	return w.flush(ctx, true)
}

// cleanOutput makes text storable as Postgres text: valid UTF-8, no NUL.
func cleanOutput(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	return strings.ReplaceAll(text, "\x00", "")
}

// cutAt is the largest prefix length of s at most n bytes that ends on a
// rune boundary (at least one rune).
func cutAt(s string, n int) int {
	if len(s) <= n {
		return len(s)
	}
	for i := n; i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return i
		}
	}
	_, size := utf8.DecodeRuneInString(s)
	return size
}
