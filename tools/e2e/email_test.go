package e2e

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// The SMTP server the maintenance worker sends to: github.com/emersion/go-smtp
// on 127.0.0.1, no TLS, AUTH PLAIN required, recording every message.

const (
	smtpUser = "hopper"
	smtpPass = "smtp-s3cret"
	smtpFrom = "hopper@example.com"
	// smtpRejected is a recipient the server refuses with 550.
	smtpRejected = "nobody@example.com"
)

// mailMsg is one message the server accepted, decoded.
type mailMsg struct {
	From    string // envelope
	To      []string
	Header  netmail.Header
	Bodies  map[string]string // media type -> decoded body
	RawData []byte
}

type smtpBackend struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []mailMsg
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b}, nil
}

func (b *smtpBackend) received() []mailMsg {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mailMsg(nil), b.msgs...)
}

type smtpSession struct {
	b      *smtpBackend
	authed bool
	from   string
	to     []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != smtpUser || pass != smtpPass {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == smtpRejected {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decodeMail(data)
	if err != nil {
		s.b.t.Errorf("undecodable mail: %v\n%s", err, data)
		return err
	}
	m.From, m.To = s.from, s.to
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, m)
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset() { s.from, s.to = "", nil }

func (s *smtpSession) Logout() error { return nil }

// startSMTPServer runs the server and returns it with its port.
func startSMTPServer(t *testing.T) (*smtpBackend, int) {
	t.Helper()
	be := &smtpBackend{t: t}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = true // plain TCP on loopback
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return be, l.Addr().(*net.TCPAddr).Port
}

// decodeMail parses a message and decodes its text parts.
func decodeMail(data []byte) (mailMsg, error) {
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return mailMsg{}, err
	}
	out := mailMsg{Header: m.Header, Bodies: map[string]string{}, RawData: data}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return mailMsg{}, err
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		b, err := decodeBody(m.Header.Get("Content-Transfer-Encoding"), m.Body)
		out.Bodies[mediaType] = b
		return out, err
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return mailMsg{}, err
		}
		mt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return mailMsg{}, err
		}
		if out.Bodies[mt], err = decodeBody(p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
			return mailMsg{}, err
		}
	}
}

func decodeBody(cte string, r io.Reader) (string, error) {
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}

// TestEmail: maintenance.email sends through a real SMTP server with AUTH
// PLAIN; a 550 fails the job at once; notify_email sends exactly one
// job-finished notice naming the job.
func TestEmail(t *testing.T) {
	t.Parallel()
	server, port := startSMTPServer(t)
	e := newEnv(t)
	e["HOPPER_DISPATCH_INTERVAL"] = "200ms"
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, env{
		"HOPPER_SMTP_HOST":     "127.0.0.1",
		"HOPPER_SMTP_PORT":     strconv.Itoa(port),
		"HOPPER_SMTP_USERNAME": smtpUser,
		"HOPPER_SMTP_PASSWORD": smtpPass,
		"HOPPER_SMTP_FROM":     "Hopper <" + smtpFrom + ">",
		"HOPPER_SMTP_TLS":      "none",
	})

	// Bad submissions are 422s.
	for _, body := range []map[string]any{
		{"kind": "maintenance.email", "payload": map[string]any{"to": []string{"not an address"}, "subject": "x", "text": "y"}},
		{"kind": "maintenance.email", "payload": map[string]any{"to": []string{"ada@example.com"}, "subject": "a\nBcc: x@example.com", "text": "y"}},
		{"kind": "maintenance.email", "payload": map[string]any{"to": []string{"ada@example.com"}, "template": "welcome", "job_id": "0193b8a0-0000-7000-8000-000000000001"}},
		{"kind": "system.noop", "notify_email": "nope"},
	} {
		code, out := c.do("POST", "/v1/jobs", key, body)
		assert.Equal(t, 422, code, "%v → %v", body, out)
	}

	t.Run("plain message", func(t *testing.T) {
		to := testkit.UniqueName("ada") + "@example.com"
		id := c.submit(key, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
			"to": []string{to}, "subject": "Hello from Hopper", "text": "The quick brown fox.",
		}})
		job := c.waitState(key, id, "succeeded", testkit.Deadline)
		m := onlyMailTo(t, server, to)
		assert.Equal(t, smtpFrom, m.From)
		assert.Equal(t, []string{to}, m.To)
		assert.Contains(t, m.Header.Get("From"), smtpFrom)
		assert.Equal(t, "<"+to+">", m.Header.Get("To"))
		assert.Equal(t, "Hello from Hopper", m.Header.Get("Subject"))
		assert.Equal(t, "The quick brown fox.", strings.TrimSpace(m.Bodies["text/plain"]))

		res := job["result"].(map[string]any)
		assert.Equal(t, []any{to}, res["to"])
		assert.Equal(t, "Hello from Hopper", res["subject"])
		assert.Equal(t, m.Header.Get("Message-Id"), res["message_id"])
	})

	t.Run("550 fails at once", func(t *testing.T) {
		id := c.submit(key, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
			"to": []string{smtpRejected}, "subject": "Hi", "text": "nobody reads this",
		}})
		job := c.waitState(key, id, "failed", testkit.Deadline)
		assert.EqualValues(t, 1, job["attempts"], "a 5xx is permanent: no retry")
		assert.Contains(t, job["error"], "550")
	})

	t.Run("notify_email", func(t *testing.T) {
		to := testkit.UniqueName("notify") + "@example.com"
		id := c.submit(key, map[string]any{"kind": "system.noop", "notify_email": to})
		job := c.waitState(key, id, "succeeded", testkit.Deadline)
		assert.Equal(t, to, job["notify_email"])

		m := onlyMailTo(t, server, to)
		assert.Contains(t, m.Header.Get("Subject"), "system.noop succeeded")
		assert.Contains(t, m.Header.Get("Subject"), id[:8])
		assert.Contains(t, m.Bodies["text/plain"], id)
		assert.Contains(t, m.Bodies["text/html"], id)

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
}

// TestEmailNotConfigured: a worker without HOPPER_SMTP_HOST fails mail
// jobs at once, naming the setting.
func TestEmailNotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	startWorker(t, e, env{"HOPPER_SMTP_FROM": smtpFrom})

	id := c.submit(key, map[string]any{"kind": "maintenance.email", "payload": map[string]any{
		"to": []string{"ada@example.com"}, "subject": "Hi", "text": "never sent",
	}})
	job := c.waitState(key, id, "failed", testkit.Deadline)
	assert.EqualValues(t, 1, job["attempts"])
	assert.Contains(t, job["error"], "HOPPER_SMTP_HOST")
}

func mailsTo(server *smtpBackend, to string) []mailMsg {
	var out []mailMsg
	for _, m := range server.received() {
		for _, rcpt := range m.To {
			if rcpt == to {
				out = append(out, m)
			}
		}
	}
	return out
}

// onlyMailTo waits for the mail to `to` and returns it.
func onlyMailTo(t *testing.T, server *smtpBackend, to string) mailMsg {
	t.Helper()
	var got []mailMsg
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		got = mailsTo(server, to)
		return len(got) > 0
	}, "a mail to %s", to)
	require.Len(t, got, 1)
	return got[0]
}
