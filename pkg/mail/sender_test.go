package mail_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/mail"
	"github.com/hopperq/hopper/pkg/mail/mailtest"
)

func newSender(t *testing.T, srv *mailtest.Server, mutate func(*mail.Config)) *mail.Sender {
	t.Helper()
	cfg := mail.Config{
		Host:     srv.Host,
		Port:     srv.Port,
		Username: mailtest.DefaultUsername,
		Password: mailtest.DefaultPassword,
		From:     "Hopper <hopper@example.com>",
		TLS:      mail.TLSNone,
		Timeout:  5 * time.Second,
	}
	if srv.ClientTLS != nil {
		cfg.TLSConfig = srv.ClientTLS
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := mail.New(cfg)
	require.NoError(t, err)
	return s
}

func TestSendDelivers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		tlsMode mail.TLSMode
		msg     mail.Message
		wantTLS bool
	}{
		{name: "plain connection, text and html", tlsMode: mail.TLSNone,
			msg: mail.Message{To: []string{"ada@example.com", "bob@example.com"}, Subject: "Job done",
				Text: "Your job finished.\nIt went well = fine.", HTML: "<p>Your job <b>finished</b>.</p>"}},
		{name: "starttls, text only", tlsMode: mail.TLSStartTLS, wantTLS: true,
			msg: mail.Message{To: []string{"ada@example.com"}, Subject: "Job done", Text: "Your job finished."}},
		{name: "implicit tls, html only", tlsMode: mail.TLSImplicit, wantTLS: true,
			msg: mail.Message{To: []string{"ada@example.com"}, Subject: "Job done", HTML: "<p>Your job finished.</p>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mode := ""
			if tc.tlsMode != mail.TLSNone {
				mode = string(tc.tlsMode)
			}
			srv := mailtest.Start(t, mailtest.Options{TLSMode: mode})
			s := newSender(t, srv, func(c *mail.Config) { c.TLS = tc.tlsMode })

			messageID, err := s.SendID(context.Background(), tc.msg)
			require.NoError(t, err)

			msgs := srv.Messages()
			require.Len(t, msgs, 1)
			got := msgs[0]
			assert.Equal(t, mailtest.DefaultUsername, got.AuthUser, "AUTH was used")
			assert.Equal(t, tc.wantTLS, got.TLS)
			assert.Equal(t, "hopper@example.com", got.From)
			assert.Equal(t, tc.msg.To, got.To)

			pm := mailtest.Decode(t, got.Data)
			assert.Equal(t, tc.msg.Subject, pm.Header.Get("Subject"))
			assert.Contains(t, pm.Header.Get("From"), "hopper@example.com")
			assert.NotEmpty(t, pm.Header.Get("Message-Id"))
			assert.Equal(t, pm.Header.Get("Message-Id"), messageID, "SendID returns the Message-ID it set")
			assert.NotEmpty(t, pm.Header.Get("Date"))
			if tc.msg.Text != "" {
				assert.Equal(t, tc.msg.Text, bodyText(pm.Parts["text/plain"]))
			}
			if tc.msg.HTML != "" {
				assert.Equal(t, tc.msg.HTML, bodyText(pm.Parts["text/html"]))
			}
		})
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		to            []string
		password      string
		wantPermanent bool
		wantCode      int
	}{
		{name: "550 on RCPT is permanent", to: []string{"nobody@example.com"}, wantPermanent: true, wantCode: 550},
		{name: "550 for one of two recipients", to: []string{"ada@example.com", "nobody@example.com"}, wantPermanent: true, wantCode: 550},
		{name: "451 on RCPT is retryable", to: []string{"busy@example.com"}, wantCode: 451},
		{name: "535 bad credentials is permanent", to: []string{"ada@example.com"}, password: "wrong", wantPermanent: true, wantCode: 535},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.Start(t, mailtest.Options{RejectRcpt: "nobody@example.com", TempRcpt: "busy@example.com"})
			s := newSender(t, srv, func(c *mail.Config) {
				if tc.password != "" {
					c.Password = tc.password
				}
			})
			err := s.Send(context.Background(), mail.Message{To: tc.to, Subject: "x", Text: "x"})
			require.Error(t, err)
			assert.Equal(t, tc.wantPermanent, mail.IsPermanent(err), "%v", err)
			var se *mail.SendError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.wantCode, se.Code, "%v", err)
			assert.Empty(t, srv.Messages())
		})
	}
}

func TestSendToSilentServerTimesOut(t *testing.T) {
	t.Parallel()
	host, port := mailtest.Silent(t)
	s, err := mail.New(mail.Config{Host: host, Port: port, From: "hopper@example.com", TLS: mail.TLSNone,
		Timeout: 300 * time.Millisecond})
	require.NoError(t, err)

	start := time.Now()
	err = s.Send(context.Background(), mail.Message{To: []string{"ada@example.com"}, Subject: "x", Text: "x"})
	require.Error(t, err)
	assert.False(t, mail.IsPermanent(err), "%v", err)
	var ne net.Error
	require.ErrorAs(t, err, &ne, "%v", err)
	assert.True(t, ne.Timeout(), "%v", err)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestSendHonoursContext(t *testing.T) {
	t.Parallel()
	host, port := mailtest.Silent(t)
	s, err := mail.New(mail.Config{Host: host, Port: port, From: "hopper@example.com", TLS: mail.TLSNone,
		Timeout: time.Minute})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	start := time.Now()
	err = s.Send(ctx, mail.Message{To: []string{"ada@example.com"}, Subject: "x", Text: "x"})
	require.Error(t, err)
	assert.False(t, mail.IsPermanent(err), "%v", err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestSendConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().(*net.TCPAddr)
	require.NoError(t, l.Close())
	s, err := mail.New(mail.Config{Host: "127.0.0.1", Port: addr.Port, From: "hopper@example.com", TLS: mail.TLSNone})
	require.NoError(t, err)

	err = s.Send(context.Background(), mail.Message{To: []string{"ada@example.com"}, Subject: "x", Text: "x"})
	require.Error(t, err)
	assert.False(t, mail.IsPermanent(err), "%v", err)
}

func TestSendRejectsBadMessages(t *testing.T) {
	t.Parallel()
	s, err := mail.New(mail.Config{Host: "127.0.0.1", Port: 1, From: "hopper@example.com", TLS: mail.TLSNone})
	require.NoError(t, err)
	tests := []struct {
		name string
		msg  mail.Message
	}{
		{name: "no recipient", msg: mail.Message{Subject: "x", Text: "x"}},
		{name: "bad recipient", msg: mail.Message{To: []string{"not an address"}, Subject: "x", Text: "x"}},
		{name: "no body", msg: mail.Message{To: []string{"ada@example.com"}, Subject: "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := s.Send(context.Background(), tc.msg)
			require.Error(t, err)
			assert.True(t, mail.IsPermanent(err), "%v", err)
		})
	}
}

func TestNewConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      mail.Config
		wantErr  string
		wantPort int
		wantTLS  mail.TLSMode
	}{
		{name: "no host", cfg: mail.Config{From: "a@example.com"}, wantErr: "mail not configured: set HOPPER_SMTP_HOST"},
		{name: "blank host", cfg: mail.Config{Host: "  ", From: "a@example.com"}, wantErr: "mail not configured: set HOPPER_SMTP_HOST"},
		{name: "no from", cfg: mail.Config{Host: "smtp.example.com"}, wantErr: "mail not configured: set HOPPER_SMTP_FROM"},
		{name: "bad from", cfg: mail.Config{Host: "smtp.example.com", From: "nope"}, wantErr: "HOPPER_SMTP_FROM"},
		{name: "bad tls", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com", TLS: "ssl"}, wantErr: "HOPPER_SMTP_TLS"},
		{name: "bad port", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com", Port: 70000}, wantErr: "HOPPER_SMTP_PORT"},
		{name: "password without user", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com", Password: "x"}, wantErr: "HOPPER_SMTP_USERNAME"},
		{name: "defaults to starttls on 587", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com"},
			wantPort: 587, wantTLS: mail.TLSStartTLS},
		{name: "tls on 465", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com", TLS: "TLS"},
			wantPort: 465, wantTLS: mail.TLSImplicit},
		{name: "none on 25", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com", TLS: mail.TLSNone},
			wantPort: 25, wantTLS: mail.TLSNone},
		{name: "explicit port", cfg: mail.Config{Host: "smtp.example.com", From: "a@example.com", Port: 2525},
			wantPort: 2525, wantTLS: mail.TLSStartTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := mail.New(tc.cfg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantPort, s.Config().Port)
			assert.Equal(t, tc.wantTLS, s.Config().TLS)
			assert.Equal(t, mail.DefaultTimeout, s.Config().Timeout)
		})
	}
}

func TestErrNotConfigured(t *testing.T) {
	t.Parallel()
	_, err := mail.New(mail.Config{})
	var nc mail.ErrNotConfigured
	require.True(t, errors.As(err, &nc))
	assert.Equal(t, mail.ErrNotConfigured{Setting: "HOPPER_SMTP_HOST"}, nc)
	assert.Equal(t, "mail not configured: set HOPPER_SMTP_HOST", err.Error())
	assert.Equal(t, "HOPPER_SMTP_HOST", mail.SettingHost)
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	cfg := mail.Config{Host: "h", Password: "secret"}
	assert.Equal(t, "*****", cfg.Redacted().Password)
	assert.Equal(t, "secret", cfg.Password)
	assert.Empty(t, mail.Config{}.Redacted().Password)
}

// bodyText undoes the wire form of a decoded body: CRLF line ends and the
// final line end of a single-part message.
func bodyText(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}
