package jobstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Bounds of a job's output, whoever appends it (the Go worker runtime,
// the pull protocol). The per-attempt total is the caller's setting.
const (
	// MaxOutputChunkBytes bounds one chunk; longer text is split by the
	// writer.
	MaxOutputChunkBytes = 16 << 10
	// MaxOutputBatch bounds the chunks of one append.
	MaxOutputBatch = 256
	// DefaultOutputMaxBytes is the default per-attempt total
	// (HOPPER_OUTPUT_MAX_BYTES).
	DefaultOutputMaxBytes = 1 << 20
	// notifyChunksBytes is the largest batch whose chunks travel in the
	// notification itself (Postgres allows 8,000 bytes per payload);
	// a larger one only names its sequence numbers and listeners read it.
	notifyChunksBytes = 7000
)

// ErrOutputLimit: an append would take the attempt's output past its
// byte limit; nothing of it was stored.
var ErrOutputLimit = errors.New("output limit reached")

// OutputChunk is one chunk of a job's output.
type OutputChunk struct {
	// Seq numbers the job's chunks from 1, across attempts.
	Seq     int64  `json:"seq"`
	Attempt int    `json:"attempt"`
	Text    string `json:"text"`
}

// outputChannelSQL is the notification channel of the schema a
// connection works in (see enqueuedChannelSQL).
const outputChannelSQL = `left('hopper_output:' || current_schema(), 63)`

// appendOutputSQL appends one batch to a running attempt the worker owns,
// within the attempt's byte limit, and notifies listeners at commit, in
// one statement. The job's row lock orders concurrent appends, so
// sequence numbers are contiguous and rows never interleave.
// $1 id, $2 attempt, $3 worker, $4 chunks, $5 bytes, $6 limit, $7 inline.
const appendOutputSQL = `
WITH j AS (
	UPDATE jobs SET output_seq = output_seq + cardinality($4::text[]),
		output_bytes = (CASE WHEN output_attempt = attempt THEN output_bytes ELSE 0 END) + $5,
		output_attempt = attempt
	WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running'
	  AND (CASE WHEN output_attempt = attempt THEN output_bytes ELSE 0 END) + $5 <= $6
	RETURNING id, attempt, output_seq - cardinality($4::text[]) + 1 AS first, cancel_requested
), ins AS (
	INSERT INTO job_output (job_id, seq, attempt, chunks) SELECT id, first, attempt, $4::text[] FROM j
)
SELECT first, cancel_requested, pg_notify(` + outputChannelSQL + `,
	CASE WHEN $7 THEN json_build_object('job', id, 'seq', first, 'attempt', attempt, 'chunks', $4::text[])
	     ELSE json_build_object('job', id, 'seq', first, 'attempt', attempt, 'n', cardinality($4::text[])) END::text)::text
FROM j`

// AppendOutput appends chunks to the output of a running attempt the
// worker owns and returns the first chunk's sequence number and whether a
// cancel was requested. A worker that no longer owns the attempt gets
// ErrLeaseLost; a batch past maxBytes for the attempt, ErrOutputLimit.
// Chunks must be valid UTF-8 without NUL (Postgres text), at most
// MaxOutputChunkBytes each and MaxOutputBatch per call.
func (s *Store) AppendOutput(ctx context.Context, jobID uuid.UUID, attempt int, workerID string, chunks []string, maxBytes int64) (first int64, cancelRequested bool, err error) {
	if len(chunks) == 0 || len(chunks) > MaxOutputBatch {
		return 0, false, fmt.Errorf("append output to job %s: %d chunks (want 1 to %d)", jobID, len(chunks), MaxOutputBatch)
	}
	size := 0
	for _, c := range chunks {
		if len(c) > MaxOutputChunkBytes {
			return 0, false, fmt.Errorf("append output to job %s: a chunk of %d bytes (at most %d)", jobID, len(c), MaxOutputChunkBytes)
		}
		size += len(c)
	}
	// Go's JSON escapes at least what Postgres's does, so its length
	// bounds the notification's; a batch over the bound is read instead.
	encoded, err := json.Marshal(chunks)
	if err != nil {
		return 0, false, fmt.Errorf("append output to job %s: %w", jobID, err)
	}
	inline := len(encoded) < notifyChunksBytes
	var ignored string
	err = s.sql.QueryRowContext(ctx, appendOutputSQL, jobID, attempt, workerID, chunks, size, maxBytes, inline).
		Scan(&first, &cancelRequested, &ignored)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, s.whyNoAppend(ctx, jobID, attempt, workerID)
	}
	if err != nil {
		return 0, false, fmt.Errorf("append output to job %s attempt %d: %w", jobID, attempt, err)
	}
	return first, cancelRequested, nil
}

// whyNoAppend tells a lost lease from a full output after an append
// matched no row.
func (s *Store) whyNoAppend(ctx context.Context, jobID uuid.UUID, attempt int, workerID string) error {
	var owns bool
	err := s.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs
		WHERE id = $1 AND attempt = $2 AND worker_id = $3 AND state = 'running')`, jobID, attempt, workerID).Scan(&owns)
	if err != nil {
		return fmt.Errorf("append output to job %s: %w", jobID, err)
	}
	if owns {
		return fmt.Errorf("append output to job %s attempt %d: %w", jobID, attempt, ErrOutputLimit)
	}
	return fmt.Errorf("append output to job %s attempt %d: %w", jobID, attempt, ErrLeaseLost)
}

// ReadOutput returns job jobID's chunks after sequence number after, in
// order, at most limit of them.
func (s *Store) ReadOutput(ctx context.Context, jobID uuid.UUID, after int64, limit int) ([]OutputChunk, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT o.seq + u.i - 1, o.attempt, u.c
		FROM job_output o, unnest(o.chunks) WITH ORDINALITY AS u(c, i)
		WHERE o.job_id = $1 AND o.seq + cardinality(o.chunks) - 1 > $2 AND o.seq + u.i - 1 > $2
		ORDER BY o.seq, u.i LIMIT $3`, jobID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read output of job %s: %w", jobID, err)
	}
	defer rows.Close()
	var out []OutputChunk
	for rows.Next() {
		var c OutputChunk
		if err := rows.Scan(&c.Seq, &c.Attempt, &c.Text); err != nil {
			return nil, fmt.Errorf("read output of job %s: %w", jobID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read output of job %s: %w", jobID, err)
	}
	return out, nil
}

// OutputNote is one notification of appended output: the batch's chunks
// when they fit in it (Chunks), else only how many there are (N), and
// listeners read them. Resync (no job) asks every subscriber to read
// again: notifications may have been lost.
type OutputNote struct {
	Job     uuid.UUID `json:"job"`
	Seq     int64     `json:"seq"`
	Attempt int       `json:"attempt"`
	Chunks  []string  `json:"chunks"`
	N       int       `json:"n"`
	Resync  bool      `json:"-"`
}

// Last is the sequence number of the note's last chunk.
func (n OutputNote) Last() int64 {
	if n.Chunks != nil {
		return n.Seq + int64(len(n.Chunks)) - 1
	}
	return n.Seq + int64(n.N) - 1
}

func decodeOutputNote(payload string) (OutputNote, error) {
	var n OutputNote
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return OutputNote{}, fmt.Errorf("decode output notification: %w", err)
	}
	if n.Job == uuid.Nil || n.Seq < 1 {
		return OutputNote{}, errors.New("decode output notification: no job or sequence")
	}
	return n, nil
}

// RunningBy counts the running attempts workerID holds (the pull
// protocol's claims in flight per token).
func (s *Store) RunningBy(ctx context.Context, workerID string) (int, error) {
	var n int
	err := s.sql.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE state = 'running' AND worker_id = $1`, workerID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count jobs running on %s: %w", workerID, err)
	}
	return n, nil
}

// EverClaimedBy reports whether workerID ever claimed the job: it holds
// it now or held it for an earlier attempt (the claim's started event
// names the worker). The pull protocol tells a lost lease (409) from a
// job that was never the worker's (404) with it.
func (s *Store) EverClaimedBy(ctx context.Context, jobID uuid.UUID, workerID string) (bool, error) {
	var held bool
	err := s.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND worker_id = $2)
		OR EXISTS (SELECT 1 FROM job_events WHERE job_id = $1 AND type = '`+EventStarted+`' AND message = 'worker ' || $2)`,
		jobID, workerID).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("did %s claim job %s: %w", workerID, jobID, err)
	}
	return held, nil
}
