package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// revocationDeadline is how soon another replica must refuse a revoked
// key or deactivated user: far below the 5 s key cache it used to wait on.
const revocationDeadline = 1500 * time.Millisecond

// waitRefused polls do until it answers 401 and returns how long that
// took; the test fails past revocationDeadline.
func waitRefused(t *testing.T, what string, do func() int) time.Duration {
	t.Helper()
	return waitCode(t, what, http.StatusUnauthorized, do)
}

// waitCode polls do until it answers want, within revocationDeadline.
func waitCode(t *testing.T, what string, want int, do func() int) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code := do()
		if code == want {
			return time.Since(start)
		}
		if time.Since(start) > revocationDeadline {
			t.Fatalf("%s: still %d, not %d, %s after the change", what, code, want, revocationDeadline)
		}
		time.Sleep(10 * time.Millisecond) // polling the other replica
	}
}

// waitEnded waits until the event stream's server end closed it.
func waitEnded(t *testing.T, what string, ev *eventStream, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		select {
		case _, ok := <-ev.Messages:
			if !ok {
				return time.Since(start)
			}
		case <-time.After(within - time.Since(start)):
			t.Fatalf("%s: the event stream still open after %s", what, within)
		}
	}
}

// TestRevocationReachesEveryReplicaAtOnce: two gateways share the
// database. A key used (so cached) on B and revoked through A is refused
// by B at once — not after B's 5 s cache — and B's open event stream of
// that key ends; deactivating the user through A refuses the user's other
// key and ends its dashboard session on B; the admin's key list shows ids,
// prefixes and times, never a secret.
func TestRevocationReachesEveryReplicaAtOnce(t *testing.T) {
	t.Parallel()
	// A recheck far away: streams must end on the announcement.
	a := startStack(t, stackOptions{env: map[string]string{"HOPPER_SSE_RECHECK": "10m"}})
	b := a.startGateway()
	userID, key1 := a.newUser("user")
	code, k2 := a.do("POST", "/v1/admin/users/"+userID+"/keys", a.admin, nil, nil)
	require.Equal(t, 201, code, k2)
	key2 := k2["key"].(string)

	// The admin lists the user's keys: ids and prefixes, never a secret.
	code, list := a.do("GET", "/v1/admin/users/"+userID+"/keys", a.admin, nil, nil)
	require.Equal(t, 200, code, list)
	keys := list["keys"].([]any)
	require.Len(t, keys, 2)
	var key1ID string
	for _, raw := range keys {
		k := raw.(map[string]any)
		assert.Equal(t, true, k["active"])
		assert.Nil(t, k["revoked_at"])
		assert.NotContains(t, k, "key")
		assert.NotContains(t, k, "hash")
		if strings.HasPrefix(key1, k["prefix"].(string)+"_") {
			key1ID = k["id"].(string)
		}
	}
	require.NotEmpty(t, key1ID, "key1's prefix is listed")
	code, _ = a.do("GET", "/v1/admin/users/"+userID+"/keys", key1, nil, nil)
	assert.Equal(t, 403, code, "a user cannot list keys")

	// B caches key1, holds a stream with it, and a dashboard session with key2.
	jobID := b.submit(key1, map[string]any{"kind": "system.noop", "run_at": time.Now().Add(time.Hour).Format(time.RFC3339)})
	code, _ = b.do("GET", "/v1/users/me", key1, nil, nil)
	require.Equal(t, 200, code)
	stream := b.openEvents(key1, jobID, "")
	session := signIn(t, b.base, key2)

	code, _ = a.do("DELETE", "/v1/admin/keys/"+key1ID, a.admin, nil, nil)
	require.Equal(t, 204, code)
	took := waitRefused(t, "revoked key on the other replica", func() int {
		code, _ := b.do("GET", "/v1/users/me", key1, nil, nil)
		return code
	})
	t.Logf("revoked key refused by the other replica after %s", took)
	took = waitEnded(t, "revoked key's stream", stream, revocationDeadline)
	t.Logf("revoked key's event stream on the other replica ended after %s", took)
	code, _ = b.do("GET", "/v1/users/me", key2, nil, nil)
	assert.Equal(t, 200, code, "the user's other key still works")
	code, list = a.do("GET", "/v1/admin/users/"+userID+"/keys", a.admin, nil, nil)
	require.Equal(t, 200, code)
	revoked := 0
	for _, raw := range list["keys"].([]any) {
		if k := raw.(map[string]any); k["active"] == false && k["revoked_at"] != nil {
			revoked++
		}
	}
	assert.Equal(t, 1, revoked, "the list shows the revocation")

	// Deactivating the user ends key2 and its session on B at once.
	code, u := a.do("POST", "/v1/admin/users/"+userID+"/deactivate", a.admin, nil, nil)
	require.Equal(t, 200, code, u)
	assert.Equal(t, false, u["active"])
	took = waitRefused(t, "deactivated user's key on the other replica", func() int {
		code, _ := b.do("GET", "/v1/users/me", key2, nil, nil)
		return code
	})
	t.Logf("deactivated user's key refused by the other replica after %s", took)
	code, _ = b.do("POST", "/v1/jobs", key2, map[string]any{"kind": "system.noop"}, nil)
	assert.Equal(t, 401, code, "a deactivated user cannot submit")
	assert.False(t, session.signedIn(t), "the deactivated user's dashboard session ended")

	// Activating again: the unrevoked key works (on B once the change is
	// announced: B refused key2 a moment ago and remembers that), the
	// revoked one never.
	code, _ = a.do("POST", "/v1/admin/users/"+userID+"/activate", a.admin, nil, nil)
	require.Equal(t, 200, code)
	waitCode(t, "activated user's key on the other replica", 200, func() int {
		code, _ := b.do("GET", "/v1/users/me", key2, nil, nil)
		return code
	})
	code, _ = b.do("GET", "/v1/users/me", key1, nil, nil)
	assert.Equal(t, 401, code)
	code, _ = a.do("POST", "/v1/admin/users/00000000-0000-0000-0000-00000000dead/deactivate", a.admin, nil, nil)
	assert.Equal(t, 404, code)
}

// TestEventStreamCaps: one key may hold HOPPER_SSE_MAX_STREAMS_PER_KEY
// streams — job events and output alike — (then 429), the gateway
// HOPPER_SSE_MAX_STREAMS (then 503); a closed stream frees its place.
func TestEventStreamCaps(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{
		"HOPPER_SSE_MAX_STREAMS_PER_KEY": "2", "HOPPER_SSE_MAX_STREAMS": "3",
	}})
	_, alice := s.newUser("user")
	_, bob := s.newUser("user")
	later := time.Now().Add(time.Hour).Format(time.RFC3339)
	aliceJob := s.submit(alice, map[string]any{"kind": "system.noop", "run_at": later})
	bobJob := s.submit(bob, map[string]any{"kind": "system.noop", "run_at": later})

	s.openEvents(alice, aliceJob, "")
	first := openRaw(t, s.base, alice, aliceJob)
	require.Equal(t, 200, first.StatusCode)
	over := openRaw(t, s.base, alice, aliceJob)
	body := readAll(t, over)
	assert.Equal(t, 429, over.StatusCode, body)
	assert.Contains(t, body, `"code":"rate_limited"`)
	assert.Contains(t, body, "too many open event streams for this API key")
	assert.NotEmpty(t, over.Header.Get("Retry-After"))
	req, err := http.NewRequest("GET", s.base+"/v1/jobs/"+aliceJob+"/output", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+alice)
	out, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body = readAll(t, out)
	assert.Equal(t, 429, out.StatusCode, "output streams count against the same cap: %s", body)

	s.openEvents(bob, bobJob, "") // the third stream of the gateway
	full := openRaw(t, s.base, bob, bobJob)
	body = readAll(t, full)
	assert.Equal(t, 503, full.StatusCode, body)
	assert.Contains(t, body, `"code":"unavailable"`)
	assert.Contains(t, body, "too many open event streams on this gateway")

	// Closing alice's stream frees a place.
	require.NoError(t, first.Body.Close())
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		r := openRaw(t, s.base, bob, bobJob)
		defer r.Body.Close()
		return r.StatusCode == 200
	}, "a closed stream frees its place")
}

// TestFailedAuthIsRateLimited: a client that fails authentication
// HOPPER_AUTH_FAILURES_PER_MINUTE times gets 429 for any key this gateway
// has not resolved yet — even a valid one, which proves no lookup is made
// — while keys it resolved before keep working; X-Forwarded-For from an
// untrusted peer does not change the client's address.
func TestFailedAuthIsRateLimited(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_AUTH_FAILURES_PER_MINUTE": "5"}})
	_, known := s.newUser("user")
	_, fresh := s.newUser("user")
	code, _ := s.do("GET", "/v1/users/me", known, nil, nil)
	require.Equal(t, 200, code)

	for i := range 5 {
		code, body := s.do("GET", "/v1/users/me", "hop_deadbeef_"+testkit.UniqueName("guess"), nil, nil)
		require.Equal(t, 401, code, "failure %d: %v", i+1, body)
	}
	code, body := s.do("GET", "/v1/users/me", "hop_deadbeef_"+testkit.UniqueName("guess"), nil, nil)
	assert.Equal(t, 429, code, body)
	assert.Equal(t, "rate_limited", body["error"].(map[string]any)["code"])
	code, _ = s.do("GET", "/v1/users/me", fresh, nil, nil)
	assert.Equal(t, 429, code, "an unresolved key is not looked up while the client is over its budget")
	code, _ = s.do("GET", "/v1/users/me", fresh, nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	assert.Equal(t, 429, code, "X-Forwarded-For from an untrusted peer is ignored")
	code, _ = s.do("GET", "/v1/users/me", known, nil, nil)
	assert.Equal(t, 200, code, "a key resolved before keeps working")
	code, _ = s.do("GET", "/v1/users/me", s.admin, nil, nil)
	assert.Equal(t, 404, code, "the admin token is not a user, and not throttled")
	code, _ = s.do("POST", "/ui/session", "", map[string]any{"key": fresh}, map[string]string{"Content-Type": "application/json"})
	assert.Equal(t, 429, code, "dashboard sign-in counts against the same budget")
}

// TestDashboardSessions: sign-in opens a server-side session whose cookie
// is a random id (HttpOnly, SameSite=Strict, Secure behind TLS), never the
// key; GET /ui/session answers 200 before and after; sign-out deletes the
// session so a copied cookie is worthless; the admin token is refused;
// revoking the key ends the session; sessions expire when idle, and at
// their maximum age however busy.
func TestDashboardSessions(t *testing.T) {
	t.Parallel()
	// Idle 3 s: a loaded CI box may leave a gap of a second or two
	// between the busy session's requests, and must not idle it out.
	s := startStack(t, stackOptions{env: map[string]string{"HOPPER_SESSION_IDLE": "3s", "HOPPER_SESSION_MAX_AGE": "6s"}})
	code, who := s.do("GET", "/ui/session", "", nil, nil)
	require.Equal(t, 200, code)
	assert.Equal(t, false, who["signed_in"], "no session: 200, not 401")

	code, body := s.do("POST", "/ui/session", "", map[string]any{"key": s.admin}, map[string]string{"Content-Type": "application/json"})
	assert.Equal(t, 403, code, body)
	assert.Contains(t, body["error"].(map[string]any)["message"], "admin user's API key")

	adminID, adminKey := s.newUser("admin")
	sess := signIn(t, s.base, adminKey)
	assert.NotContains(t, sess.cookie.Value, adminKey[:12], "the cookie holds a session id, not the key")
	assert.True(t, sess.cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, sess.cookie.SameSite)
	assert.False(t, sess.cookie.Secure, "plain HTTP")
	who = sess.get(t, "/ui/session")
	assert.Equal(t, true, who["signed_in"])
	assert.Equal(t, adminID, who["id"])
	assert.Equal(t, true, who["admin"], "an admin user's session opens the admin pages")
	code, _ = sess.do(t, "GET", "/v1/workers", nil)
	assert.Equal(t, 200, code, "admin pages work with the session")
	code, _ = sess.do(t, "POST", "/v1/jobs", http.Header{"Content-Type": {"application/json"}})
	assert.Equal(t, 403, code, "a state change by cookie needs the CSRF header")

	tls := signIn(t, s.base, adminKey, "X-Forwarded-Proto", "https")
	assert.True(t, tls.cookie.Secure, "behind TLS the cookie is Secure")

	// Sign-out deletes the session: the copied cookie no longer works.
	code, _ = sess.do(t, "DELETE", "/ui/session", nil)
	require.Equal(t, 204, code)
	assert.False(t, sess.signedIn(t))
	code, _ = sess.do(t, "GET", "/v1/jobs", nil)
	assert.Equal(t, 401, code, "the signed-out session id is refused")
	assert.True(t, tls.signedIn(t), "other sessions stay")

	// Expiry: a session used all the time lives past the idle timeout
	// (3s) and ends at its absolute one (6s); tls, unused meanwhile,
	// ended when idle.
	busy := signIn(t, s.base, adminKey)
	start := time.Now()
	var lastAlive time.Duration
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		if busy.signedIn(t) {
			lastAlive = time.Since(start)
			return false
		}
		return true
	}, "the busy session to reach its maximum age")
	ended := time.Since(start)
	t.Logf("busy session: alive at %s, ended by %s (idle 3s, max age 6s)", lastAlive, ended)
	assert.Greater(t, lastAlive, 3500*time.Millisecond, "use keeps a session past the idle timeout")
	assert.Less(t, ended, 9*time.Second, "the absolute timeout ends it anyway")
	assert.False(t, tls.signedIn(t), "the unused session ended when idle")

	// Revoking the key ends its sessions.
	_, userKey := s.newUser("user")
	us := signIn(t, s.base, userKey)
	require.True(t, us.signedIn(t))
	code, list := s.do("GET", "/v1/admin/users/"+us.get(t, "/ui/session")["id"].(string)+"/keys", s.admin, nil, nil)
	require.Equal(t, 200, code)
	keyID := list["keys"].([]any)[0].(map[string]any)["id"].(string)
	code, _ = s.do("DELETE", "/v1/admin/keys/"+keyID, s.admin, nil, nil)
	require.Equal(t, 204, code)
	who = us.get(t, "/ui/session")
	assert.Equal(t, false, who["signed_in"], "revoking the key ended the session")
	assert.NotEmpty(t, who["reason"])
}

// session is a dashboard session cookie a test holds.
type session struct {
	base   string
	cookie *http.Cookie
}

// signIn posts key to /ui/session (with extra header pairs) and returns
// the session cookie.
func signIn(t *testing.T, base, key string, header ...string) *session {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/ui/session", strings.NewReader(`{"key":"`+key+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body := readAll(t, resp)
	require.Equal(t, 204, resp.StatusCode, body)
	for _, c := range resp.Cookies() {
		if c.Name == "hopper_session" {
			return &session{base: base, cookie: c}
		}
	}
	t.Fatal("sign-in set no session cookie")
	return nil
}

func (s *session) do(t *testing.T, method, path string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	req.AddCookie(&http.Cookie{Name: s.cookie.Name, Value: s.cookie.Value})
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp.StatusCode, readAll(t, resp)
}

func (s *session) get(t *testing.T, path string) map[string]any {
	t.Helper()
	code, body := s.do(t, "GET", path, nil)
	require.Equal(t, 200, code, body)
	return decodeObject(t, body)
}

func (s *session) signedIn(t *testing.T) bool {
	t.Helper()
	return s.get(t, "/ui/session")["signed_in"] == true
}

// openRaw opens an event stream and returns the response as is; the
// test closes its body (or it closes at the end).
func openRaw(t *testing.T, base, key, jobID string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/jobs/"+jobID+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	t.Cleanup(func() { cancel(); _ = resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(raw)
}

func decodeObject(t *testing.T, body string) map[string]any {
	t.Helper()
	out := map[string]any{}
	require.NoError(t, json.Unmarshal([]byte(body), &out), body)
	return out
}

// A worker token revoked on one gateway is refused by another at once
// (migration 00027), not when the other's 5 s auth cache expires.
func TestWorkerTokenRevocationReachesEveryReplica(t *testing.T) {
	t.Parallel()
	a := startStack(t, stackOptions{})
	b := a.startGateway()
	w := a.newPullWorker("revoked", "maintenance")
	claim := func() int {
		wb := *w
		wb.base = b.base
		code, _ := wb.call("/v1/worker/claim", map[string]any{"wait_seconds": 0})
		return code
	}
	require.Equal(t, http.StatusNoContent, claim(), "B knows and caches the token")
	code, list := a.do("GET", "/v1/admin/worker-tokens", a.admin, nil, nil)
	require.Equal(t, 200, code, list)
	var id string
	for _, raw := range list["tokens"].([]any) {
		if tok := raw.(map[string]any); tok["name"] == "revoked" {
			id = tok["id"].(string)
		}
	}
	require.NotEmpty(t, id)
	code, _ = a.do("DELETE", "/v1/admin/worker-tokens/"+id, a.admin, nil, nil)
	require.Equal(t, 204, code)
	took := waitRefused(t, "revoked worker token on the other replica", claim)
	t.Logf("revoked worker token refused by the other replica after %s", took)
}
