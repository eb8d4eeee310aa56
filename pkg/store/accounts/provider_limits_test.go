package accounts_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/storetest"
)

// TestReserveProviderRequest: GCRA slots one interval apart, a burst after
// idling, and a slot beyond maxWait is refused without being reserved.
func TestReserveProviderRequest(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	const iv, maxWait = 10 * time.Second, time.Minute

	w, ok, err := s.ReserveProviderRequest(ctx, "llm@a", iv, 0, maxWait)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Zero(t, w, "first request: at once")
	w, ok, err = s.ReserveProviderRequest(ctx, "llm@a", iv, 0, maxWait)
	require.NoError(t, err)
	require.True(t, ok)
	assert.InDelta(t, iv, w, float64(time.Second), "second: one interval later")
	w, ok, err = s.ReserveProviderRequest(ctx, "llm@a", iv, 0, maxWait)
	require.NoError(t, err)
	require.True(t, ok)
	assert.InDelta(t, 2*iv, w, float64(time.Second))

	// Beyond maxWait: refused, nothing reserved (the next is still 3 intervals out).
	w, ok, err = s.ReserveProviderRequest(ctx, "llm@a", iv, 0, 25*time.Second)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.InDelta(t, 3*iv, w, float64(time.Second))
	w, ok, err = s.ReserveProviderRequest(ctx, "llm@a", iv, 0, maxWait)
	require.NoError(t, err)
	require.True(t, ok)
	assert.InDelta(t, 3*iv, w, float64(time.Second))

	// Another bucket is independent; a burst of 3 lets three go at once.
	for i := range 3 {
		w, ok, err = s.ReserveProviderRequest(ctx, "llm@b", iv, 2*iv, maxWait)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Zero(t, w, "burst request %d", i)
	}
	w, _, err = s.ReserveProviderRequest(ctx, "llm@b", iv, 2*iv, maxWait)
	require.NoError(t, err)
	assert.InDelta(t, iv, w, float64(time.Second), "the fourth waits")

	_, _, err = s.ReserveProviderRequest(ctx, "llm@c", 0, 0, maxWait)
	require.Error(t, err, "a zero interval is a bug")
}

func TestProviderTokens(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	w, err := s.ProviderTokenWait(ctx, "llm@t", time.Minute)
	require.NoError(t, err)
	assert.Zero(t, w, "no row yet")
	require.NoError(t, s.ChargeProviderTokens(ctx, "llm@t", 90*time.Second))
	w, err = s.ProviderTokenWait(ctx, "llm@t", time.Minute)
	require.NoError(t, err)
	assert.InDelta(t, 30*time.Second, w, float64(time.Second), "90 s of tokens against a minute's budget")
	require.NoError(t, s.ChargeProviderTokens(ctx, "llm@t", 10*time.Second))
	w, err = s.ProviderTokenWait(ctx, "llm@t", time.Minute)
	require.NoError(t, err)
	assert.InDelta(t, 40*time.Second, w, float64(time.Second))
	// Tokens and requests of one bucket share the row without interfering.
	rw, ok, err := s.ReserveProviderRequest(ctx, "llm@t", time.Second, 0, time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Zero(t, rw)
}
