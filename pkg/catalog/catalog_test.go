package catalog_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/catalog"
	"github.com/hopperq/hopper/pkg/jobs"
)

// fakeStore is the catalogue table in memory: the catalogue's own unit
// under test is its refresh logic, not SQL (pkg/store's tests cover that).
type fakeStore struct {
	mu       sync.Mutex
	kinds    []jobs.Kind
	versions atomic.Int64 // KindsVersion calls
}

func (f *fakeStore) publish(k jobs.Kind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kinds = append(f.kinds, k)
}

func (f *fakeStore) KindsVersion(context.Context) (string, error) {
	f.versions.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return strconv.Itoa(len(f.kinds)), nil
}

func (f *fakeStore) ListKinds(context.Context) ([]jobs.Kind, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]jobs.Kind(nil), f.kinds...), nil
}

func kind(name string) jobs.Kind {
	return jobs.Kind{Name: name, Queue: "acme", MaxAttempts: 1, Timeout: time.Second,
		Schema: []byte(`{"type":"object","required":["n"]}`)}
}

// TestRefreshMissing: a kind published just after a refresh is found by
// the next submit naming it, not at the next tick.
func TestRefreshMissing(t *testing.T) {
	st := &fakeStore{}
	seed, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	c := catalog.New(st, seed, nil, time.Hour)
	require.NoError(t, c.Refresh(t.Context()))
	st.publish(kind("acme.new"))
	assert.True(t, c.RefreshMissing(t.Context(), "acme.new"), "published right after the last refresh")
	k, ok := c.Lookup("acme.new")
	require.True(t, ok)
	require.NotNil(t, k.CheckPayload, "its schema compiled")
	assert.Error(t, k.CheckPayload([]byte(`{}`)))
	assert.Contains(t, c.Names(), jobs.KindNoop, "the seed stays")
	assert.Equal(t, []string{"acme", "maintenance"}, c.Queues())
	assert.False(t, c.RefreshMissing(t.Context(), "acme.nope"))
}

// TestRefreshMissingBounded: a flood of submits naming unknown kinds costs
// the database about one read per MissRefreshEvery, not one per submit.
func TestRefreshMissingBounded(t *testing.T) {
	st := &fakeStore{}
	c := catalog.New(st, nil, nil, time.Hour)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { c.RefreshMissing(t.Context(), "acme.nope"+strconv.Itoa(i%7)) })
	}
	wg.Wait()
	took := time.Since(start)
	allowed := int64(took/catalog.MissRefreshEvery) + 2
	assert.LessOrEqual(t, st.versions.Load(), allowed, "%d reads in %s", st.versions.Load(), took)
}
