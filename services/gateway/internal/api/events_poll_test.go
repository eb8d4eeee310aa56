package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/jobstore"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestJobEventsPollWithoutNotifier: with no notifications (no notifier,
// as while it reconnects) a stream still follows its job within 1 s by
// polling.
func TestJobEventsPollWithoutNotifier(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, reg, _, job := streamFixture(t)

	admin := testkit.UniqueName("admin-token-")
	srv := httptest.NewServer(New(Options{Store: st, Registry: reg, AdminToken: admin}))
	t.Cleanup(srv.Close)
	msgs := readEvents(t, srv.URL+"/v1/jobs/"+job.ID.String()+"/events", admin)

	expect := func(event string) {
		t.Helper()
		select {
		case m, ok := <-msgs:
			require.True(t, ok, "stream ended before %s", event)
			require.Equal(t, event, m.event, m.data)
			at, err := time.Parse(time.RFC3339Nano, m.data["at"].(string))
			require.NoError(t, err)
			require.Less(t, m.received.Sub(at), time.Second, "%s lag", event)
		case <-time.After(testkit.Deadline):
			t.Fatalf("no %s message", event)
		}
	}
	expect("created")
	claimed, err := st.Claim(ctx, job.ID, "w1", time.Minute)
	require.NoError(t, err)
	expect("started")
	_, err = st.Progress(ctx, job.ID, claimed.Attempt, "w1", 50, "half", time.Minute)
	require.NoError(t, err)
	expect("progress")
	_, err = st.Finish(ctx, jobstore.Outcome{JobID: job.ID, Attempt: claimed.Attempt, WorkerID: "w1", State: jobs.StateSucceeded})
	require.NoError(t, err)
	expect("progress") // 100
	expect("succeeded")
	select {
	case _, ok := <-msgs:
		require.False(t, ok, "the stream ends after the terminal event")
	case <-time.After(testkit.Deadline):
		t.Fatal("the stream did not end")
	}
}

// streamFixture is a migrated store of its own schema, the default kind
// registry, a user and a queued system.noop job of theirs.
func streamFixture(t *testing.T) (*store.Store, *jobs.Registry, accounts.User, jobstore.Job) {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(ctx, testkit.DatabaseURL(t), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(ctx))
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	kind, ok := reg.Lookup(jobs.KindNoop)
	require.True(t, ok)
	user, err := st.CreateUser(ctx, testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "")
	require.NoError(t, err)
	res, err := st.Enqueue(ctx, []jobstore.NewJob{{OwnerID: user.ID, Spec: jobs.Spec{
		Kind: kind, Priority: jobs.PriorityNormal, MaxAttempts: 1, Timeout: time.Minute,
	}}}, time.Now())
	require.NoError(t, err)
	return st, reg, user, res[0].Job
}

type testEvent struct {
	event    string
	data     map[string]any
	received time.Time
}

// readEvents opens an event stream and delivers its messages until the
// server ends it.
func readEvents(t *testing.T, url, key string) <-chan testEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := make(chan testEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var ev testEvent
		for sc.Scan() {
			field, value, _ := strings.Cut(sc.Text(), ": ")
			switch field {
			case "event":
				ev.event = value
			case "data":
				if json.Unmarshal([]byte(value), &ev.data) != nil {
					ev.data = map[string]any{"raw": value}
				}
			case "":
				if ev.event != "" {
					ev.received = time.Now()
					out <- ev
				}
				ev = testEvent{}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
		<-done
	})
	return out
}
