package app_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/testkit"
)

// streamChunks is how many chunks the streaming handler writes.
const streamChunks = 2000

// TestOutputStreamsToEverySubscriber: 2,000 chunks written by one SDK
// handler reach 10 concurrent SSE subscribers complete and in order; one
// of them hangs up midway and resumes with Last-Event-ID; the whole text
// stays readable after the job ended. It logs the chunk latency (from
// Job.Output to the subscriber) and what the database stored.
func TestOutputStreamsToEverySubscriber(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{})
	_, key := s.newUser("user")

	start := make(chan struct{})
	var (
		mu      sync.Mutex
		written = map[int64]time.Time{} // chunk text index → when Output was called
	)
	s.startSDKWorker("stream-worker", func(w *hopper.Worker) {
		w.HandleKind(hopper.KindSpec{Name: "streamt.tokens", Timeout: time.Minute},
			func(ctx context.Context, j *hopper.RawJob) (any, error) {
				select {
				case <-start:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				for i := range streamChunks {
					mu.Lock()
					written[int64(i)] = time.Now()
					mu.Unlock()
					if err := j.Output(ctx, fmt.Sprintf("t%04d ", i)); err != nil {
						return nil, err
					}
					// An LLM's pace, roughly: a token every millisecond.
					time.Sleep(time.Millisecond)
				}
				_, err := fmt.Fprintf(j, "done")
				return map[string]any{"tokens": streamChunks}, err
			})
	})
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, _ := s.do("GET", "/v1/kinds/streamt.tokens", s.admin, nil, nil)
		return code == 200
	}, "the stream worker's kind in the catalogue")
	id := s.submit(key, map[string]any{"kind": "streamt.tokens", "payload": map[string]any{}})
	s.waitState(key, id, "running")

	const subscribers = 10
	type result struct {
		chunks []outChunk
		end    map[string]any
	}
	results := make([]result, subscribers)
	var wg sync.WaitGroup
	opened := make(chan struct{}, subscribers)
	for i := range subscribers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 0 {
				// Hangs up after 700 chunks, then resumes where it was.
				first, _ := s.readOutputSignal(key, id, 0, 700, opened)
				rest, end := s.readOutput(key, id, first[len(first)-1].Seq, 0)
				results[i] = result{chunks: append(first, rest...), end: end}
				return
			}
			chunks, end := s.readOutputSignal(key, id, 0, 0, opened)
			results[i] = result{chunks: chunks, end: end}
		}()
	}
	for range subscribers {
		<-opened
	}
	close(start)
	wg.Wait()

	want := make([]string, 0, streamChunks+1)
	for i := range streamChunks {
		want = append(want, fmt.Sprintf("t%04d ", i))
	}
	want = append(want, "done")
	var latencies []time.Duration
	for i, r := range results {
		texts := make([]string, len(r.chunks))
		for k, c := range r.chunks {
			texts[k] = c.Text
			require.Equal(t, int64(k+1), c.Seq, "subscriber %d: chunk %d out of order", i, k)
			if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(c.Text, "t"))); err == nil && i != 0 {
				mu.Lock()
				latencies = append(latencies, c.At.Sub(written[int64(n)]))
				mu.Unlock()
			}
		}
		require.Equal(t, want, texts, "subscriber %d got every chunk in order", i)
		require.Equal(t, "succeeded", r.end["state"], "subscriber %d", i)
		require.Equal(t, float64(streamChunks+1), r.end["last_seq"])
	}
	slices.Sort(latencies)
	t.Logf("chunk latency Output → SSE subscriber over %d deliveries: p50 %s, p99 %s, max %s",
		len(latencies), latencies[len(latencies)/2], latencies[len(latencies)*99/100], latencies[len(latencies)-1])

	code, text := s.do("GET", "/v1/jobs/"+id+"/output?format=text", key, nil, nil)
	require.Equal(t, 200, code, text)
	require.Equal(t, strings.Join(want, ""), text["text"])
	require.Equal(t, "succeeded", text["state"])
	// A late subscriber gets the whole output, then the end.
	late, end := s.readOutput(key, id, streamChunks-10, 0)
	require.Len(t, late, 11)
	require.Equal(t, "succeeded", end["state"])
	var rows int64
	require.NoError(t, s.serviceDB().QueryRow(`SELECT count(*) FROM job_output WHERE job_id = $1`, id).Scan(&rows))
	t.Logf("%d chunks stored in %d rows (%.1f chunks a row)", streamChunks+1, rows, float64(streamChunks+1)/float64(rows))
	require.Less(t, rows, int64(streamChunks/4), "chunks are batched, not a row each")
}

// readOutputSignal is readOutput that reports on opened once the stream
// is open (the server subscribed before it answered).
func (s *stack) readOutputSignal(key, id string, after int64, stopAt int, opened chan<- struct{}) ([]outChunk, map[string]any) {
	s.t.Helper()
	return s.readOutputOpened(key, id, after, stopAt, func() { opened <- struct{}{} })
}
