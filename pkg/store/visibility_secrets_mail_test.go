package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
	"github.com/hopperq/hopper/pkg/store/storetest"
)

// TestKindVisibility: a kind's visibility is stored and read back (public
// when unset), and re-publishing only a changed visibility, under the
// same version, still updates the row: an upgrade that makes a kind
// internal cannot be lost to an unchanged version string.
func TestKindVisibility(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	kind := func(name string, v jobs.Visibility) jobs.Kind {
		return jobs.Kind{Name: name, Queue: "acme", Service: "acme", MaxAttempts: 1, Timeout: time.Second,
			MaxTimeout: time.Second, BackoffBase: time.Second, BackoffCap: time.Second, Version: "v1", Visibility: v}
	}
	require.NoError(t, s.PublishKinds(ctx, []jobs.Kind{kind("acme.open", ""), kind("acme.sweep", jobs.VisibilityAdmin)}))
	read := func() map[string]jobs.Visibility {
		ks, err := s.ListKinds(ctx)
		require.NoError(t, err)
		out := map[string]jobs.Visibility{}
		for _, k := range ks {
			out[k.Name] = k.Visibility
		}
		return out
	}
	assert.Equal(t, map[string]jobs.Visibility{"acme.open": "public", "acme.sweep": "admin"}, read())

	before, err := s.KindsVersion(ctx)
	require.NoError(t, err)
	require.NoError(t, s.PublishKinds(ctx, []jobs.Kind{kind("acme.open", jobs.VisibilityInternal)}))
	assert.Equal(t, jobs.VisibilityInternal, read()["acme.open"])
	after, err := s.KindsVersion(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, before, after, "gateways see the change")
}

// TestMailRate: mails are reserved within the rate per sliding hour, a
// reservation over it is refused with when one fits, reservations given
// back free their place, and each user has a rate of their own.
func TestMailRate(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ada, bob := storetest.User(t, s), storetest.User(t, s)
	t0 := time.Now().UTC().Truncate(time.Second)

	first, err := s.TakeMails(ctx, ada.ID, 2, 3, t0)
	require.NoError(t, err)
	require.Len(t, first, 2)
	_, err = s.TakeMails(ctx, ada.ID, 1, 3, t0.Add(10*time.Minute))
	require.NoError(t, err)

	_, err = s.TakeMails(ctx, ada.ID, 1, 3, t0.Add(20*time.Minute))
	var qe *pg.QuotaError
	require.True(t, errors.As(err, &qe), "%v", err)
	assert.Equal(t, accounts.LimitMailsPerHour, qe.Limit)
	assert.Equal(t, 3, qe.Used)
	assert.Equal(t, 40*time.Minute, qe.RetryAfter, "when the oldest reservation leaves the hour")
	_, err = s.TakeMails(ctx, ada.ID, 4, 3, t0.Add(20*time.Minute))
	require.True(t, errors.As(err, &qe))
	assert.Zero(t, qe.RetryAfter, "more than the rate itself never fits")

	_, err = s.TakeMails(ctx, bob.ID, 3, 3, t0.Add(20*time.Minute))
	require.NoError(t, err, "bob's rate is his own")

	require.NoError(t, s.ReturnMails(ctx, first[:1]))
	_, err = s.TakeMails(ctx, ada.ID, 1, 3, t0.Add(20*time.Minute))
	require.NoError(t, err, "a returned reservation frees its place")

	n, err := s.MailsInWindow(ctx, ada.ID, t0.Add(61*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the two at t0 left the hour")
	_, err = s.TakeMails(ctx, ada.ID, 1, 3, t0.Add(61*time.Minute))
	require.NoError(t, err)

	ids, err := s.TakeMails(ctx, ada.ID, 50, 0, t0)
	require.NoError(t, err)
	assert.Empty(t, ids, "0 is unlimited and reserves nothing")
}

// TestWebhookSecrets: a secret is shown once and listed without it;
// creating another rotates: the older one signs on for the overlap, then
// stops; deleting stops one at once; each user's secrets are their own.
func TestWebhookSecrets(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := t.Context()
	ada, bob := storetest.User(t, s), storetest.User(t, s)
	t0 := time.Now().UTC().Truncate(time.Second)

	has, err := s.HasWebhookSecret(ctx, ada.ID, t0)
	require.NoError(t, err)
	assert.False(t, has)

	old, oldText, err := s.CreateWebhookSecret(ctx, ada.ID, time.Hour, t0)
	require.NoError(t, err)
	assert.Regexp(t, `^whsec_[A-Za-z0-9_-]{43}$`, oldText)
	assert.Equal(t, oldText[:12], old.Prefix)
	assert.Nil(t, old.ExpiresAt)

	fresh, freshText, err := s.CreateWebhookSecret(ctx, ada.ID, time.Hour, t0.Add(time.Minute))
	require.NoError(t, err)
	signing, err := s.WebhookSigningSecrets(ctx, ada.ID, t0.Add(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte(freshText), []byte(oldText)}, signing, "both sign during the overlap, newest first")
	list, err := s.ListWebhookSecrets(ctx, ada.ID, t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, fresh.ID, list[0].ID)
	require.NotNil(t, list[1].ExpiresAt)
	assert.WithinDuration(t, t0.Add(61*time.Minute), *list[1].ExpiresAt, time.Second)

	signing, err = s.WebhookSigningSecrets(ctx, ada.ID, t0.Add(62*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte(freshText)}, signing, "the old one stopped at the end of the overlap")

	none, err := s.WebhookSigningSecrets(ctx, bob.ID, t0)
	require.NoError(t, err)
	assert.Empty(t, none, "bob has none of ada's")
	require.ErrorIs(t, s.DeleteWebhookSecret(ctx, bob.ID, fresh.ID), pg.ErrNotFound, "bob cannot delete ada's")
	require.NoError(t, s.DeleteWebhookSecret(ctx, ada.ID, fresh.ID))
	has, err = s.HasWebhookSecret(ctx, ada.ID, t0.Add(62*time.Minute))
	require.NoError(t, err)
	assert.False(t, has)

	// Rotating with no overlap retires the others at once; at most
	// MaxLiveWebhookSecrets sign together.
	for i := range accounts.MaxLiveWebhookSecrets {
		_, _, err := s.CreateWebhookSecret(ctx, bob.ID, time.Hour, t0.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	_, _, err = s.CreateWebhookSecret(ctx, bob.ID, time.Hour, t0.Add(time.Minute))
	require.ErrorIs(t, err, accounts.ErrTooManySecrets)
	_, lastText, err := s.CreateWebhookSecret(ctx, bob.ID, 0, t0.Add(time.Minute))
	require.NoError(t, err)
	signing, err = s.WebhookSigningSecrets(ctx, bob.ID, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte(lastText)}, signing)
}
