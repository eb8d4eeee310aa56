package webhook_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/webhook"
)

func TestSignFormat(t *testing.T) {
	t.Parallel()
	ts := time.Unix(1700000000, 0)
	// Reference value: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
	got := webhook.Sign([]byte("whsec_test"), ts, []byte(`{"a":1}`))
	assert.Equal(t, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789", got)
	assert.Equal(t, got, webhook.Sign([]byte("whsec_test"), ts, []byte(`{"a":1}`)), "deterministic")
}

func TestVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("whsec_current")
	old := []byte("whsec_old")
	body := []byte(`{"event":"job.finished","job":{"id":"j1"}}`)
	now := time.Unix(1700000000, 0)
	sig := webhook.Sign(secret, now, body)
	v1 := func(s string) string { return s[strings.Index(s, "v1="):] }
	tsHeader := "t=" + strconv.FormatInt(now.Unix(), 10)

	tests := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		wantErr   error
	}{
		{name: "valid", secret: secret, header: sig, body: body, now: now},
		{name: "valid within tolerance", secret: secret, header: sig, body: body, now: now.Add(4 * time.Minute)},
		{name: "spaces after commas", secret: secret, header: strings.ReplaceAll(sig, ",", ", "), body: body, now: now},
		{name: "rotation: old and new v1", secret: secret,
			header: tsHeader + "," + v1(webhook.Sign(old, now, body)) + "," + v1(sig), body: body, now: now},
		{name: "unknown scheme ignored", secret: secret, header: sig + ",v0=deadbeef", body: body, now: now},
		{name: "wrong secret", secret: []byte("whsec_other"), header: sig, body: body, now: now,
			wantErr: webhook.ErrSignatureMismatch},
		{name: "tampered body", secret: secret, header: sig, body: []byte(`{"event":"job.finished","job":{"id":"j2"}}`), now: now,
			wantErr: webhook.ErrSignatureMismatch},
		{name: "stale timestamp", secret: secret, header: sig, body: body, now: now.Add(6 * time.Minute),
			wantErr: webhook.ErrStaleTimestamp},
		{name: "future timestamp", secret: secret, header: sig, body: body, now: now.Add(-6 * time.Minute),
			wantErr: webhook.ErrStaleTimestamp},
		{name: "custom tolerance", secret: secret, header: sig, body: body, now: now.Add(31 * time.Second),
			tolerance: 30 * time.Second, wantErr: webhook.ErrStaleTimestamp},
		{name: "replayed with a new timestamp", secret: secret,
			header: "t=" + strconv.FormatInt(now.Unix()+60, 10) + "," + v1(sig), body: body, now: now,
			wantErr: webhook.ErrSignatureMismatch},
		{name: "empty header", secret: secret, header: "", body: body, now: now, wantErr: webhook.ErrNoSignature},
		{name: "no timestamp", secret: secret, header: v1(sig), body: body, now: now, wantErr: webhook.ErrMalformedSignature},
		{name: "no v1", secret: secret, header: tsHeader, body: body, now: now, wantErr: webhook.ErrMalformedSignature},
		{name: "bad timestamp", secret: secret, header: "t=soon," + v1(sig), body: body, now: now, wantErr: webhook.ErrMalformedSignature},
		{name: "two timestamps", secret: secret, header: tsHeader + "," + sig, body: body, now: now, wantErr: webhook.ErrMalformedSignature},
		{name: "garbage", secret: secret, header: "nonsense", body: body, now: now, wantErr: webhook.ErrMalformedSignature},
		{name: "empty secret", secret: nil, header: sig, body: body, now: now, wantErr: webhook.ErrEmptySecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := webhook.Verify(tc.secret, tc.header, tc.body, tc.now, tc.tolerance)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}
