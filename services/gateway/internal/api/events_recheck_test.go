package api

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/testkit"
)

// TestStreamRechecksItsKey: with no announcement of the change (no
// listener, as while it reconnects, or a revocation made straight in the
// database by another tool), an open stream still ends within
// HOPPER_SSE_RECHECK of its key's revocation.
func TestStreamRechecksItsKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, reg, user, job := streamFixture(t)
	key, plaintext, err := st.CreateAPIKey(ctx, user.ID)
	require.NoError(t, err)

	recheck := 200 * time.Millisecond
	srv := httptest.NewServer(New(Options{Store: st, Registry: reg, Access: config.Access{StreamRecheck: recheck}}))
	t.Cleanup(srv.Close)
	msgs := readEvents(t, srv.URL+"/v1/jobs/"+job.ID.String()+"/events", plaintext)
	select {
	case m := <-msgs:
		require.Equal(t, "created", m.event)
	case <-time.After(testkit.Deadline):
		t.Fatal("no first event")
	}
	require.NoError(t, st.RevokeAPIKey(ctx, key.ID))
	revoked := time.Now()
	for {
		select {
		case _, ok := <-msgs:
			if ok {
				continue
			}
			took := time.Since(revoked)
			t.Logf("stream ended %s after the revocation (recheck every %s)", took, recheck)
			require.Less(t, took, recheck+time.Second)
			return
		case <-time.After(testkit.Deadline):
			t.Fatal("the revoked key's stream did not end")
		}
	}
}
