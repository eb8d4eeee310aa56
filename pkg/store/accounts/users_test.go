package accounts_test

import (
	"crypto/sha256"
	"errors"
	"regexp"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
	"github.com/hopperq/hopper/pkg/testkit"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()

	u, err := s.CreateUser(ctx, "ada@example.com", accounts.RoleAdmin, "premium")
	require.NoError(t, err)
	require.EqualValues(t, 7, u.ID.Version(), "ids are uuid v7")
	require.Equal(t, "ada@example.com", u.Email)
	require.Equal(t, accounts.RoleAdmin, u.Role)
	require.Equal(t, "premium", u.Plan)
	require.True(t, u.Active)
	require.False(t, u.CreatedAt.IsZero())

	got, err := s.GetUser(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	require.Equal(t, u.Email, got.Email)
	require.True(t, u.CreatedAt.Equal(got.CreatedAt))

	def, err := s.CreateUser(ctx, "bob@example.com", accounts.RoleUser, "")
	require.NoError(t, err)
	require.Equal(t, accounts.DefaultPlan, def.Plan)

	_, err = s.GetUser(ctx, uuid.New())
	require.ErrorIs(t, err, pg.ErrNotFound)
}

func TestCreateUserRejects(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	_, err := s.CreateUser(t.Context(), "dup@example.com", accounts.RoleUser, "")
	require.NoError(t, err)

	tests := []struct {
		name, email, role string
		conflict          bool
	}{
		{name: "duplicate email", email: "dup@example.com", role: accounts.RoleUser, conflict: true},
		{name: "unknown role", email: "x@example.com", role: "root"},
		{name: "empty email", email: " ", role: accounts.RoleUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.CreateUser(t.Context(), tc.email, tc.role, "")
			require.Error(t, err)
			require.Equal(t, tc.conflict, errors.Is(err, pg.ErrConflict), "err: %v", err)
		})
	}
}

var keyFormat = regexp.MustCompile(`^hop_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$`)

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u := storetest.User(t, s)

	k, plaintext, err := s.CreateAPIKey(ctx, u.ID)
	require.NoError(t, err)
	require.Regexp(t, keyFormat, plaintext)
	require.Equal(t, plaintext[:len(k.Prefix)], k.Prefix, "prefix is the visible start of the key")
	sum := sha256.Sum256([]byte(plaintext))
	require.Equal(t, sum[:], k.Hash, "only the hash is stored")
	require.Nil(t, k.LastUsedAt)

	gotUser, gotKey, err := s.Authenticate(ctx, plaintext)
	require.NoError(t, err)
	require.Equal(t, u.ID, gotUser.ID)
	require.Equal(t, u.Email, gotUser.Email)
	require.Equal(t, k.ID, gotKey.ID)

	// The first use is stamped; the stamp is not rewritten within a minute.
	_, again, err := s.Authenticate(ctx, plaintext)
	require.NoError(t, err)
	require.NotNil(t, again.LastUsedAt)
	_, third, err := s.Authenticate(ctx, plaintext)
	require.NoError(t, err)
	require.True(t, again.LastUsedAt.Equal(*third.LastUsedAt))

	for _, bad := range []string{"", "hop_", plaintext + "x", "Bearer " + plaintext} {
		_, _, err := s.Authenticate(ctx, bad)
		require.ErrorIs(t, err, pg.ErrNotFound, "key %q", bad)
	}

	_, _, err = s.CreateAPIKey(ctx, uuid.New())
	require.ErrorIs(t, err, pg.ErrNotFound)

	require.NoError(t, s.RevokeAPIKey(ctx, k.ID))
	require.NoError(t, s.RevokeAPIKey(ctx, k.ID), "revoking twice is fine")
	_, _, err = s.Authenticate(ctx, plaintext)
	require.ErrorIs(t, err, pg.ErrNotFound)
	require.ErrorIs(t, s.RevokeAPIKey(ctx, uuid.New()), pg.ErrNotFound)
}

func TestInactiveUserCannotAuthenticate(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	u, err := s.CreateUser(ctx, testkit.UniqueName("i")+"@example.com", accounts.RoleUser, "")
	require.NoError(t, err)
	_, plaintext, err := s.CreateAPIKey(ctx, u.ID)
	require.NoError(t, err)

	require.NoError(t, s.SetUserActive(ctx, u.ID, false))
	_, _, err = s.Authenticate(ctx, plaintext)
	require.ErrorIs(t, err, pg.ErrNotFound)

	require.NoError(t, s.SetUserActive(ctx, u.ID, true))
	_, _, err = s.Authenticate(ctx, plaintext)
	require.NoError(t, err)

	require.ErrorIs(t, s.SetUserActive(ctx, uuid.New(), false), pg.ErrNotFound)
}
