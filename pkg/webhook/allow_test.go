package webhook

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAllowList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: ""},
		{in: " 127.0.0.1 , inference.svc. ,10.0.0.0/8", want: "inference.svc,127.0.0.1,10.0.0.0/8"},
		{in: "[::1]", want: "::1"},
		{in: "10.0.0.0/33", bad: true},
		{in: "http://x", bad: true},
		{in: "0x7f.1", bad: true},
	} {
		a, err := ParseAllowList(tc.in)
		if tc.bad {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, a.String(), tc.in)
	}
}

func TestSendAllowList(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"ok":true}`)) })
	u, err := url.Parse(rc.srv.URL)
	require.NoError(t, err)
	req := Request{URL: rc.srv.URL, Body: []byte(`{}`), Secrets: [][]byte{[]byte(testSecret)}, MaxResponseBytes: 4}
	for _, tc := range []struct {
		name, allow string
		ok          bool
	}{
		{name: "nothing allowed", allow: "", ok: false},
		{name: "another address", allow: "10.0.0.1", ok: false},
		{name: "the address", allow: u.Hostname(), ok: true},
		{name: "its range", allow: "127.0.0.0/8", ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			allow, err := ParseAllowList(tc.allow)
			require.NoError(t, err)
			d := newTestDeliverer(t, Config{Allow: allow})
			resp, err := d.Send(context.Background(), req)
			if !tc.ok {
				require.ErrorIs(t, err, ErrForbiddenAddress)
				assert.True(t, IsPermanent(err))
				// The dial guard refuses it too, past the static check.
				_, err = d.send(context.Background(), Response{}, req)
				require.ErrorIs(t, err, ErrForbiddenAddress)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, `{"ok`, string(resp.Body))
			assert.True(t, resp.Truncated)
		})
	}
}
