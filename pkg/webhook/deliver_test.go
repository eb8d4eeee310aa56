package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testSecret = "whsec_test_secret"

// receiver is a webhook endpoint that verifies every request with Verify
// and answers with respond.
type receiver struct {
	srv     *httptest.Server
	hits    atomic.Int32
	lastErr atomic.Value // errBox: the last verification result
	last    atomic.Value // http.Header of the last request
	body    atomic.Value // []byte: the last request body
}

type errBox struct{ err error }

func newReceiver(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		rc.body.Store(body)
		rc.last.Store(r.Header.Clone())
		err := Verify([]byte(testSecret), r.Header.Get(SignatureHeader), body, time.Now(), time.Minute)
		rc.lastErr.Store(errBox{err})
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		respond(w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func newTestDeliverer(t *testing.T, cfg Config) *Deliverer {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = []byte(testSecret)
	}
	d, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

type jobPayload struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func TestDeliverSignedSuccess(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	d := newTestDeliverer(t, Config{AllowPrivate: true})

	a, err := d.Deliver(context.Background(), rc.srv.URL+"/hook", "job.finished", jobPayload{ID: "j1", State: "succeeded"})
	require.NoError(t, err)
	require.NoError(t, a.Err)
	assert.Equal(t, http.StatusNoContent, a.Status)
	assert.Positive(t, a.Duration)
	require.EqualValues(t, 1, rc.hits.Load())
	require.NoError(t, rc.lastErr.Load().(errBox).err, "receiver verified the signature")

	h := rc.last.Load().(http.Header)
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	assert.Equal(t, "Hopper-Webhook/1", h.Get("User-Agent"))
	assert.Equal(t, "job.finished", h.Get("Hopper-Event"))
	assert.Equal(t, a.DeliveryID, h.Get("Hopper-Delivery"))
	_, err = uuid.Parse(a.DeliveryID)
	require.NoError(t, err)

	var got struct {
		Event string     `json:"event"`
		Job   jobPayload `json:"job"`
	}
	require.NoError(t, json.Unmarshal(rc.body.Load().([]byte), &got))
	assert.Equal(t, "job.finished", got.Event)
	assert.Equal(t, jobPayload{ID: "j1", State: "succeeded"}, got.Job)
}

func TestDeliverReceiverRejectsWrongSecret(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	d := newTestDeliverer(t, Config{AllowPrivate: true, Secret: []byte("whsec_someone_else")})

	a, err := d.Deliver(context.Background(), rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, a.Status)
	assert.True(t, IsPermanent(err))
	require.ErrorIs(t, rc.lastErr.Load().(errBox).err, ErrSignatureMismatch)
}

func TestDeliverReceiverRejectsStaleTimestamp(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	past := func() time.Time { return time.Now().Add(-10 * time.Minute) }
	d := newTestDeliverer(t, Config{AllowPrivate: true, Now: past})

	_, err := d.Deliver(context.Background(), rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
	require.Error(t, err)
	require.ErrorIs(t, rc.lastErr.Load().(errBox).err, ErrStaleTimestamp)
}

func TestDeliverClassifiesStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		status         int
		retryAfter     string
		wantPermanent  bool
		wantRetryAfter time.Duration
		wantHasRA      bool
	}{
		{name: "500 retryable", status: 500},
		{name: "502 retryable", status: 502},
		{name: "503 with retry-after seconds", status: 503, retryAfter: "120", wantRetryAfter: 2 * time.Minute, wantHasRA: true},
		{name: "429 with retry-after", status: 429, retryAfter: "7", wantRetryAfter: 7 * time.Second, wantHasRA: true},
		{name: "429 without retry-after", status: 429},
		{name: "408 retryable", status: 408},
		{name: "302 not followed, retryable", status: 302},
		{name: "400 permanent", status: 400, wantPermanent: true},
		{name: "404 permanent", status: 404, wantPermanent: true},
		{name: "410 gone permanent", status: 410, wantPermanent: true},
		{name: "400 ignores retry-after", status: 400, retryAfter: "5", wantPermanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				if tc.status == 302 {
					w.Header().Set("Location", "http://169.254.169.254/")
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, "receiver says no")
			})
			d := newTestDeliverer(t, Config{AllowPrivate: true})

			a, err := d.Deliver(context.Background(), rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
			require.Error(t, err)
			assert.Equal(t, err, a.Err)
			assert.Equal(t, tc.status, a.Status)
			assert.Equal(t, tc.wantPermanent, IsPermanent(err))
			ra, ok := RetryAfter(err)
			assert.Equal(t, tc.wantHasRA, ok)
			assert.Equal(t, tc.wantRetryAfter, ra)
			assert.Contains(t, err.Error(), "receiver says no")
			assert.EqualValues(t, 1, rc.hits.Load(), "one attempt, no redirect followed")
		})
	}
}

func TestDeliverLoopbackGuard(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	ctx := context.Background()

	t.Run("refused by CheckURL", func(t *testing.T) {
		t.Parallel()
		d := newTestDeliverer(t, Config{})
		a, err := d.Deliver(ctx, rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
		require.ErrorIs(t, err, ErrForbiddenAddress)
		assert.True(t, IsPermanent(err))
		assert.Zero(t, a.Status)
	})
	t.Run("refused at dial time", func(t *testing.T) {
		t.Parallel()
		// post skips the static check, as a host name resolving to
		// 127.0.0.1 would pass it: the dialer must refuse the connection.
		d := newTestDeliverer(t, Config{})
		a, err := d.post(ctx, rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
		require.ErrorIs(t, err, ErrForbiddenAddress)
		assert.True(t, IsPermanent(err))
		assert.Zero(t, a.Status)
	})
	t.Run("allowed when private targets are allowed", func(t *testing.T) {
		t.Parallel()
		d := newTestDeliverer(t, Config{AllowPrivate: true})
		a, err := d.Deliver(ctx, rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, a.Status)
	})
	// Run after the subtests: neither refused attempt reached the server.
	t.Cleanup(func() { assert.EqualValues(t, 1, rc.hits.Load()) })
}

func TestDeliverTimeoutIsRetryable(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	d := newTestDeliverer(t, Config{AllowPrivate: true, Timeout: 200 * time.Millisecond})

	a, err := d.Deliver(context.Background(), srv.URL, "job.finished", jobPayload{ID: "j1"})
	require.Error(t, err)
	assert.False(t, IsPermanent(err))
	assert.Zero(t, a.Status)
	assert.Less(t, a.Duration, 5*time.Second)
}

func TestDeliverConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	d := newTestDeliverer(t, Config{AllowPrivate: true})

	_, err := d.Deliver(context.Background(), url, "job.finished", jobPayload{ID: "j1"})
	require.Error(t, err)
	assert.False(t, IsPermanent(err))
}

func TestDeliverBadInput(t *testing.T) {
	t.Parallel()
	d := newTestDeliverer(t, Config{AllowPrivate: true})
	tests := []struct {
		name    string
		url     string
		payload any
	}{
		{name: "unencodable payload", url: "http://127.0.0.1:1/", payload: make(chan int)},
		{name: "bad scheme", url: "gopher://example.com/", payload: 1},
		{name: "no host", url: "http:///x", payload: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := d.Deliver(context.Background(), tc.url, "job.finished", tc.payload)
			require.Error(t, err)
			assert.True(t, IsPermanent(err))
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	require.ErrorIs(t, err, ErrEmptySecret)
	_, err = New(Config{Secret: []byte(testSecret), Timeout: -time.Second})
	require.Error(t, err)
}

func TestRetryAfterOnOtherErrors(t *testing.T) {
	t.Parallel()
	_, ok := RetryAfter(io.EOF)
	assert.False(t, ok)
	assert.False(t, IsPermanent(io.EOF))
	assert.False(t, IsPermanent(nil))
}
