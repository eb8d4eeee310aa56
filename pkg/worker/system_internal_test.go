package worker

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSleepCallbackFollowsNoRedirect: system.sleep's callback goes to the
// loopback URL it was given and nowhere else: a receiver answering with a
// redirect fails the callback, and the redirect's target is never asked.
func TestSleepCallbackFollowsNoRedirect(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elsewhere.Add(1)
	}))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/internal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)

	err := callback(t.Context(), redirector.URL, SleepCallback{JobID: "j", Attempt: 1, Event: "completed"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "307")
	assert.Zero(t, elsewhere.Load(), "the redirect was not followed")

	require.NoError(t, callback(t.Context(), target.URL, SleepCallback{JobID: "j", Attempt: 1, Event: "completed"}))
	assert.EqualValues(t, 1, elsewhere.Load())
}
