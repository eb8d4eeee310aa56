package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/mail/mailtest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// The SMTP server the maintenance worker sends to: mailtest's on 127.0.0.1,
// no TLS, AUTH PLAIN required, recording every message.

const (
	smtpUser = "hopper"
	smtpPass = "smtp-s3cret"
	smtpFrom = "hopper@example.com"
	// smtpRejected is a recipient the server refuses with 550.
	smtpRejected = "nobody@example.com"
)

// TestEmail: maintenance.email (an admin's kind) sends through a real
// SMTP server with AUTH PLAIN; a 550 fails the job at once; notify_email
// sends exactly one job-finished notice naming the job, to the user's own
// address only; a notice to anyone else fails at the worker too.
func TestEmail(t *testing.T) {
	t.Parallel()
	server := mailtest.Start(t, mailtest.Options{RejectRcpt: smtpRejected, Username: smtpUser, Password: smtpPass})
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, _ := stackWithGateway(t, e, nil)
	own := testkit.UniqueName("notify") + "@example.com"
	key := newUserKeyWithEmail(t, c, e, "user", own)
	admin := newUserKeyWithEmail(t, c, e, "admin", testkit.UniqueName("ops")+"@example.com")
	startWorker(t, e, env{
		"HOPPER_SMTP_HOST":     "127.0.0.1",
		"HOPPER_SMTP_PORT":     strconv.Itoa(server.Port),
		"HOPPER_SMTP_USERNAME": smtpUser,
		"HOPPER_SMTP_PASSWORD": smtpPass,
		"HOPPER_SMTP_FROM":     "Hopper <" + smtpFrom + ">",
		"HOPPER_SMTP_TLS":      "none",
	})

	// Users may not mail anyone from the operator's address.
	code, out := c.do("POST", "/v1/jobs", key, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
		"to": []string{"anyone@example.com"}, "subject": "x", "text": "y"}})
	assert.Equal(t, 403, code, out)
	code, out = c.do("POST", "/v1/jobs", key, map[string]any{"kind": "system.noop", "notify_email": "anyone@example.com"})
	assert.Equal(t, 403, code, "notify_email to another address: %v", out)

	// Bad submissions are 422s.
	for _, body := range []map[string]any{
		{"kind": "maintenance.email", "payload": map[string]any{"to": []string{"not an address"}, "subject": "x", "text": "y"}},
		{"kind": "maintenance.email", "payload": map[string]any{"to": []string{"ada@example.com"}, "subject": "a\nBcc: x@example.com", "text": "y"}},
		{"kind": "maintenance.email", "payload": map[string]any{"to": []string{"ada@example.com"}, "template": "welcome", "job_id": "0193b8a0-0000-7000-8000-000000000001"}},
		{"kind": "system.noop", "notify_email": "nope"},
	} {
		code, out := c.do("POST", "/v1/jobs", admin, body)
		assert.Equal(t, 422, code, "%v → %v", body, out)
	}

	t.Run("plain message", func(t *testing.T) {
		to := testkit.UniqueName("ada") + "@example.com"
		id := c.submit(admin, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
			"to": []string{to}, "subject": "Hello from Hopper", "text": "The quick brown fox.",
		}})
		job := c.waitState(admin, id, "succeeded", testkit.Deadline)
		m, d := onlyMailTo(t, server, to)
		assert.Equal(t, smtpFrom, m.From)
		assert.Equal(t, []string{to}, m.To)
		assert.Contains(t, d.Header.Get("From"), smtpFrom)
		assert.Equal(t, "<"+to+">", d.Header.Get("To"))
		assert.Equal(t, "Hello from Hopper", d.Header.Get("Subject"))
		assert.Equal(t, "The quick brown fox.", strings.TrimSpace(d.Parts["text/plain"]))

		res := job["result"].(map[string]any)
		assert.Equal(t, []any{to}, res["to"])
		assert.Equal(t, "Hello from Hopper", res["subject"])
		assert.Equal(t, d.Header.Get("Message-Id"), res["message_id"])
	})

	t.Run("550 fails at once", func(t *testing.T) {
		id := c.submit(admin, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
			"to": []string{smtpRejected}, "subject": "Hi", "text": "nobody reads this",
		}})
		job := c.waitState(admin, id, "failed", testkit.Deadline)
		assert.EqualValues(t, 1, job["attempts"], "a 5xx is permanent: no retry")
		assert.Contains(t, job["error"], "550")
	})

	t.Run("notify_email", func(t *testing.T) {
		to := own
		id := c.submit(key, map[string]any{"kind": "system.noop", "notify_email": to})
		job := c.waitState(key, id, "succeeded", testkit.Deadline)
		assert.Equal(t, to, job["notify_email"])

		_, d := onlyMailTo(t, server, to)
		assert.Contains(t, d.Header.Get("Subject"), "system.noop succeeded")
		assert.Contains(t, d.Header.Get("Subject"), id[:8])
		assert.Contains(t, d.Parts["text/plain"], id)
		assert.Contains(t, d.Parts["text/html"], id)

		// Exactly one notice job for the finished job, however many
		// dispatcher passes ran, and it succeeded.
		var notices []map[string]any
		testkit.WaitFor(t, 5*time.Second, func() bool {
			_, list := c.do("GET", "/v1/jobs?kind=maintenance.email&limit=100", key, nil)
			notices = nil
			for _, j := range list["jobs"].([]any) {
				j := j.(map[string]any)
				if p, _ := j["payload"].(map[string]any); p["job_id"] == id {
					notices = append(notices, j)
				}
			}
			return len(notices) == 1 && notices[0]["state"] == "succeeded"
		}, "one succeeded notice job for %s (have %v)", id, notices)
		assert.Len(t, mailsTo(server, to), 1)
	})

	t.Run("a notice goes to its owner only", func(t *testing.T) {
		// An admin may send mail, but a job-finished notice of a job
		// speaks for its owner: the worker sends it to the owner alone.
		done := c.submit(admin, map[string]any{"kind": "system.noop"})
		c.waitState(admin, done, "succeeded", testkit.Deadline)
		stranger := testkit.UniqueName("stranger") + "@example.com"
		id := c.submit(admin, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
			"to": []string{stranger}, "template": "job_finished", "job_id": done}})
		job := c.waitState(admin, id, "failed", testkit.Deadline)
		assert.Contains(t, job["error"], "not the job owner's address")
		assert.Empty(t, mailsTo(server, stranger))
	})
}

// TestEmailNotConfigured: a worker without HOPPER_SMTP_HOST fails mail
// jobs at once, naming the setting.
func TestEmailNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := stackWithGateway(t, e, nil)
	startWorker(t, e, env{"HOPPER_SMTP_FROM": smtpFrom})
	admin := newUserKeyWithEmail(t, c, e, "admin", testkit.UniqueName("ops")+"@example.com")

	id := c.submit(admin, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
		"to": []string{"ada@example.com"}, "subject": "Hi", "text": "never sent",
	}})
	job := c.waitState(admin, id, "failed", testkit.Deadline)
	assert.EqualValues(t, 1, job["attempts"])
	assert.Contains(t, job["error"], "HOPPER_SMTP_HOST")
}

func mailsTo(server *mailtest.Server, to string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range server.Messages() {
		for _, rcpt := range m.To {
			if rcpt == to {
				out = append(out, m)
			}
		}
	}
	return out
}

// onlyMailTo waits for the mail to `to` and returns it, with its decoding.
func onlyMailTo(t *testing.T, server *mailtest.Server, to string) (mailtest.Message, mailtest.Decoded) {
	t.Helper()
	var got []mailtest.Message
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		got = mailsTo(server, to)
		return len(got) > 0
	}, "a mail to %s", to)
	require.Len(t, got, 1)
	return got[0], mailtest.Decode(t, got[0].Data)
}
