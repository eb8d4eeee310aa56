package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
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
	d, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(d.Close)
	return d
}

// msg is a message to url signed with testSecret.
func msg(url, event string, payload any) Message {
	return Message{URL: url, Event: event, Payload: payload, Secrets: [][]byte{[]byte(testSecret)}}
}

type jobPayload struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

func TestDeliverSignedSuccess(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	d := newTestDeliverer(t, Config{AllowPrivate: true})

	a, err := d.Deliver(context.Background(), msg(rc.srv.URL+"/hook", "job.finished", jobPayload{ID: "j1", State: "succeeded"}))
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
	d := newTestDeliverer(t, Config{AllowPrivate: true})

	m := msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
	m.Secrets = [][]byte{[]byte("whsec_someone_else")}
	a, err := d.Deliver(context.Background(), m)
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

	_, err := d.Deliver(context.Background(), msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"}))
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

			a, err := d.Deliver(context.Background(), msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"}))
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
		a, err := d.Deliver(ctx, msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"}))
		require.ErrorIs(t, err, ErrForbiddenAddress)
		assert.True(t, IsPermanent(err))
		assert.Zero(t, a.Status)
	})
	t.Run("refused at dial time", func(t *testing.T) {
		t.Parallel()
		// send skips the static check, as a host name resolving to
		// 127.0.0.1 would pass it: the dialer must refuse the connection.
		d := newTestDeliverer(t, Config{})
		m := msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
		a, err := d.send(ctx, Response{Attempt: Attempt{DeliveryID: "d1"}}, Request{URL: m.URL, Body: []byte(`{}`), Secrets: m.Secrets})
		require.ErrorIs(t, err, ErrForbiddenAddress)
		assert.True(t, IsPermanent(err))
		assert.Zero(t, a.Status)
	})
	t.Run("allowed when private targets are allowed", func(t *testing.T) {
		t.Parallel()
		d := newTestDeliverer(t, Config{AllowPrivate: true})
		a, err := d.Deliver(ctx, msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"}))
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

	a, err := d.Deliver(context.Background(), msg(srv.URL, "job.finished", jobPayload{ID: "j1"}))
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

	_, err := d.Deliver(context.Background(), msg(url, "job.finished", jobPayload{ID: "j1"}))
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
			_, err := d.Deliver(context.Background(), msg(tc.url, "job.finished", tc.payload))
			require.Error(t, err)
			assert.True(t, IsPermanent(err))
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{Timeout: -time.Second})
	require.Error(t, err)
}

// TestDeliverNeedsASecret: a message without a secret (or with an empty
// one) is never sent unsigned.
func TestDeliverNeedsASecret(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	d := newTestDeliverer(t, Config{AllowPrivate: true})
	for _, secrets := range [][][]byte{nil, {[]byte(testSecret), nil}} {
		m := msg(rc.srv.URL, "job.finished", jobPayload{ID: "j1"})
		m.Secrets = secrets
		_, err := d.Deliver(context.Background(), m)
		require.ErrorIs(t, err, ErrEmptySecret)
		assert.True(t, IsPermanent(err))
	}
	assert.Zero(t, rc.hits.Load())
}

// TestDeliverRotation: during a rotation a delivery carries a signature
// by each secret, so a receiver holding only the old one and one holding
// only the new one both verify it; one holding neither does not.
func TestDeliverRotation(t *testing.T) {
	t.Parallel()
	var header atomic.Value
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(b)
		header.Store(r.Header.Get(SignatureHeader))
	}))
	t.Cleanup(srv.Close)
	d := newTestDeliverer(t, Config{AllowPrivate: true})
	newer, older := []byte("whsec_new"), []byte("whsec_old")
	_, err := d.Deliver(context.Background(), Message{URL: srv.URL, Event: "job.succeeded", Payload: 1, Secrets: [][]byte{newer, older}})
	require.NoError(t, err)

	h, b := header.Load().(string), body.Load().([]byte)
	assert.Regexp(t, `^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$`, h, "one timestamp, the newest secret's signature first")
	require.NoError(t, Verify(older, h, b, time.Now(), time.Minute))
	require.NoError(t, Verify(newer, h, b, time.Now(), time.Minute))
	require.ErrorIs(t, Verify([]byte("whsec_other_tenant"), h, b, time.Now(), time.Minute), ErrSignatureMismatch)
}

// TestDeliveryIDStable: a delivery's id derives from its key alone: the
// same on every retry, different for another event.
func TestDeliveryIDStable(t *testing.T) {
	t.Parallel()
	a := DeliveryID("job-1:1:succeeded")
	assert.Equal(t, a, DeliveryID("job-1:1:succeeded"))
	assert.NotEqual(t, a, DeliveryID("job-1:2:succeeded"))
	_, err := uuid.Parse(a)
	require.NoError(t, err)

	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.Header.Get(DeliveryHeader))
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	d := newTestDeliverer(t, Config{AllowPrivate: true})
	m := msg(srv.URL, "job.succeeded", 1)
	m.ID = a
	for range 2 {
		got, err := d.Deliver(context.Background(), m)
		require.Error(t, err)
		assert.Equal(t, a, got.DeliveryID)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{a, a}, seen, "both attempts carry the same Hopper-Delivery")
}

func TestRetryAfterOnOtherErrors(t *testing.T) {
	t.Parallel()
	_, ok := RetryAfter(io.EOF)
	assert.False(t, ok)
	assert.False(t, IsPermanent(io.EOF))
	assert.False(t, IsPermanent(nil))
}
