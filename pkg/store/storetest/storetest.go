// Package storetest opens stores for the tests of the store's aggregates
// and of its consumers, and makes the rows a test starts from. Each store
// works in a fresh schema of its own (testkit), so tests run in parallel.
package storetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/testkit"
)

// New opens a migrated store on a fresh schema of its own, closed when t
// ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	s := Open(t, testkit.DatabaseURL(t))
	require.NoError(t, s.Migrate(t.Context()))
	return s
}

// Open opens dsn and closes the store when t ends.
func Open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// User creates a user on the default plan.
func User(t testing.TB, s *store.Store) accounts.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), testkit.UniqueName("u")+"@example.com", accounts.RoleUser, "")
	require.NoError(t, err)
	return u
}
