package api

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

func TestSSEWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(s *sseWriter) error
		want  string
	}{
		{name: "message with id", write: func(s *sseWriter) error {
			return s.message(42, "started", map[string]any{"a": "x\ny"})
		}, want: "id: 42\nevent: started\ndata: {\"a\":\"x\\ny\"}\n\n"},
		{name: "message without id", write: func(s *sseWriter) error {
			return s.message(0, "progress", map[string]int{"progress": 10})
		}, want: "event: progress\ndata: {\"progress\":10}\n\n"},
		{name: "comment", write: func(s *sseWriter) error { return s.comment("keepalive") }, want: ": keepalive\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			flushes := 0
			s := &sseWriter{w: &buf, flush: func() { flushes++ }}
			require.NoError(t, tc.write(s))
			assert.Equal(t, tc.want, buf.String())
			assert.Equal(t, 1, flushes, "each message is flushed")
		})
	}
}

func TestParseLastEventID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "", want: 0},
		{in: " 17 ", want: 17},
		{in: "9007199254740993", want: 9007199254740993},
		{in: "-1", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "1.5", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseLastEventID(tc.in)
		if tc.wantErr {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

// TestJobStreamSend covers what one stream sends for a sequence of
// snapshots: each event once, progress only when it changed, and done
// once the job is terminal.
func TestJobStreamSend(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(n int64, typ string, st jobs.State) jobstore.Event {
		return jobstore.Event{ID: n, JobID: id, At: at, Type: typ, State: st, Attempt: 1}
	}
	job := func(st jobs.State, pct int, msg string) jobstore.Job {
		return jobstore.Job{ID: id, State: st, Progress: pct, StatusMessage: msg, UpdatedAt: at}
	}
	type snapshot struct {
		job      jobstore.Job
		evs      []jobstore.Event
		want     []string // "event[#id]" per message sent
		wantDone bool
	}
	tests := []struct {
		name      string
		lastID    int64
		snapshots []snapshot
	}{
		{name: "live job", snapshots: []snapshot{
			{job: job(jobs.StateQueued, 0, ""), evs: []jobstore.Event{ev(1, "created", jobs.StateQueued)}, want: []string{"created#1"}},
			{job: job(jobs.StateRunning, 0, ""), evs: []jobstore.Event{ev(2, "started", jobs.StateRunning)}, want: []string{"started#2"}},
			{job: job(jobs.StateRunning, 10, "a"), want: []string{"progress"}},
			{job: job(jobs.StateRunning, 10, "a"), want: nil},
			{job: job(jobs.StateRunning, 10, "b"), want: []string{"progress"}},
			// A snapshot repeating an event already sent does not resend it.
			{job: job(jobs.StateSucceeded, 100, "b"),
				evs:  []jobstore.Event{ev(2, "started", jobs.StateRunning), ev(3, "succeeded", jobs.StateSucceeded)},
				want: []string{"progress", "succeeded#3"}, wantDone: true},
		}},
		{name: "finished job replayed", snapshots: []snapshot{
			{job: job(jobs.StateFailed, 40, "half"),
				evs:  []jobstore.Event{ev(1, "created", jobs.StateQueued), ev(2, "started", jobs.StateRunning), ev(3, "failed", jobs.StateFailed)},
				want: []string{"progress", "created#1", "started#2", "failed#3"}, wantDone: true},
		}},
		{name: "resumed after the terminal event", lastID: 3, snapshots: []snapshot{
			{job: job(jobs.StateCancelled, 0, ""), want: nil, wantDone: true},
		}},
		{name: "failed attempt then retried is not over", snapshots: []snapshot{
			{job: job(jobs.StateQueued, 0, ""),
				evs:  []jobstore.Event{ev(1, "failed", jobs.StateFailed), ev(2, "retried", jobs.StateQueued)},
				want: []string{"failed#1", "retried#2"}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			st := &jobStream{out: &sseWriter{w: &buf, flush: func() {}}, jobID: id, lastID: tc.lastID}
			for i, sn := range tc.snapshots {
				buf.Reset()
				done, err := st.send(sn.job, sn.evs)
				require.NoError(t, err)
				assert.Equal(t, sn.wantDone, done, "snapshot %d", i)
				assert.Equal(t, sn.want, sentMessages(t, buf.String()), "snapshot %d", i)
			}
		})
	}
}

// sentMessages renders an SSE text as "event[#id]" per message and checks
// each carries this job's JSON data.
func sentMessages(t *testing.T, text string) []string {
	t.Helper()
	var out []string
	for _, block := range strings.Split(strings.TrimSuffix(text, "\n\n"), "\n\n") {
		if block == "" {
			continue
		}
		var id, event, data string
		for _, line := range strings.Split(block, "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "id":
				id = v
			case "event":
				event = v
			case "data":
				data = v
			}
		}
		require.Contains(t, data, `"job_id":`)
		require.Contains(t, data, `"at":"2025-01-02T03:04:05Z"`)
		if id != "" {
			event += "#" + id
		}
		out = append(out, event)
	}
	return out
}
