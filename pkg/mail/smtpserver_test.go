package mail_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// The test SMTP server: github.com/emersion/go-smtp with AUTH PLAIN,
// recording what it receives.

const (
	testUser = "hopper"
	testPass = "s3cret"
)

type serverOpts struct {
	tlsMode    string // "", "starttls" or "tls"
	rejectRcpt string // RCPT TO this address gets 550
	tempRcpt   string // RCPT TO this address gets 451
}

type received struct {
	From     string
	To       []string
	Data     []byte
	AuthUser string
	TLS      bool
}

type backend struct {
	opts serverOpts
	mu   sync.Mutex
	msgs []received
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{b: b, cur: received{TLS: isTLS}}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type session struct {
	b   *backend
	cur received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != testUser || pass != testPass {
			return smtp.ErrAuthFailed
		}
		s.cur.AuthUser = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.cur.AuthUser == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch to {
	case s.b.opts.rejectRcpt:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case s.b.opts.tempRcpt:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = data
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset() {
	s.cur = received{AuthUser: s.cur.AuthUser, TLS: s.cur.TLS}
}

func (s *session) Logout() error { return nil }

// testServer is a running SMTP server on 127.0.0.1.
type testServer struct {
	host    string
	port    int
	backend *backend
	// roots trusts the server's certificate (for the TLS modes).
	roots *tls.Config
}

func startSMTP(t *testing.T, opts serverOpts) *testServer {
	t.Helper()
	be := &backend{opts: opts}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = opts.tlsMode == ""

	ts := &testServer{backend: be}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	if opts.tlsMode != "" {
		// httptest's certificate is valid for 127.0.0.1; its client trusts it.
		hs := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(hs.Close)
		s.TLSConfig = &tls.Config{Certificates: hs.TLS.Certificates, MinVersion: tls.VersionTLS12}
		ts.roots = hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		if opts.tlsMode == "tls" {
			l = tls.NewListener(l, s.TLSConfig)
		}
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })

	addr := l.Addr().(*net.TCPAddr)
	ts.host, ts.port = addr.IP.String(), addr.Port
	return ts
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	addr := l.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// parsedMail is a received message, decoded.
type parsedMail struct {
	Header netmail.Header
	Parts  map[string]string // media type -> decoded body
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	pm := parsedMail{Header: m.Header, Parts: map[string]string{}}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	if !strings.HasPrefix(mediaType, "multipart/") {
		pm.Parts[mediaType] = decodePart(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return pm
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return pm
		}
		require.NoError(t, err)
		mt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		pm.Parts[mt] = decodePart(t, p.Header.Get("Content-Transfer-Encoding"), p)
	}
}

func decodePart(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}
