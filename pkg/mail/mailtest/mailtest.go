// Package mailtest runs a fake SMTP server for tests of code that sends mail
// through package mail (its unit tests and the end-to-end tests of the
// maintenance worker): github.com/emersion/go-smtp on 127.0.0.1 with AUTH
// PLAIN required, recording every message it accepts, plus a decoder that
// reads a recorded message back into headers and text parts.
//
// It is for tests only; non-test code must not import it.
package mailtest

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

// The credentials the server accepts unless Options say otherwise.
const (
	DefaultUsername = "hopper"
	DefaultPassword = "s3cret"
)

// Options configure a Server. The zero value is a plain-TCP server that
// accepts DefaultUsername/DefaultPassword and every recipient.
type Options struct {
	TLSMode    string // "" (plain TCP), "starttls" or "tls" (implicit)
	RejectRcpt string // RCPT TO this address gets 550
	TempRcpt   string // RCPT TO this address gets 451
	Username   string // default DefaultUsername
	Password   string // default DefaultPassword
}

// Message is one message the server accepted.
type Message struct {
	From     string // envelope sender
	To       []string
	Data     []byte // as received (DATA)
	AuthUser string
	TLS      bool // the session ran over TLS
}

// Server is a running SMTP server on 127.0.0.1, stopped when the test ends.
type Server struct {
	Host string
	Port int
	// ClientTLS trusts the server's certificate (TLS modes only, else nil).
	ClientTLS *tls.Config

	opts Options
	mu   sync.Mutex
	msgs []Message
}

// Start runs a server configured by opts.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	if opts.Password == "" {
		opts.Password = DefaultPassword
	}
	srv := &Server{opts: opts}
	s := smtp.NewServer(srv)
	s.Domain = "localhost"
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.AllowInsecureAuth = opts.TLSMode == "" // plain TCP on loopback

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	switch opts.TLSMode {
	case "":
	case "starttls", "tls":
		// httptest's certificate is valid for 127.0.0.1; its client trusts it.
		hs := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(hs.Close)
		s.TLSConfig = &tls.Config{Certificates: hs.TLS.Certificates, MinVersion: tls.VersionTLS12}
		srv.ClientTLS = hs.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		if opts.TLSMode == "tls" {
			l = tls.NewListener(l, s.TLSConfig)
		}
	default:
		_ = l.Close()
		t.Fatalf("mailtest: unknown TLS mode %q", opts.TLSMode)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })

	addr := l.Addr().(*net.TCPAddr)
	srv.Host, srv.Port = addr.IP.String(), addr.Port
	return srv
}

// Messages returns a copy of the messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{srv: s, cur: Message{TLS: isTLS}}, nil
}

type session struct {
	srv *Server
	cur Message
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.opts.Username || pass != s.srv.opts.Password {
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
	switch {
	case s.srv.opts.RejectRcpt != "" && to == s.srv.opts.RejectRcpt:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case s.srv.opts.TempRcpt != "" && to == s.srv.opts.TempRcpt:
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
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *session) Reset() {
	s.cur = Message{AuthUser: s.cur.AuthUser, TLS: s.cur.TLS}
}

func (s *session) Logout() error { return nil }

// Silent accepts connections on 127.0.0.1 and never says a word, for
// timeout tests. It stops when the test ends.
func Silent(t testing.TB) (host string, port int) {
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

// Decoded is a message read back: its header and its text parts.
type Decoded struct {
	Header netmail.Header
	Parts  map[string]string // media type -> decoded body (quoted-printable undone)
}

// Decode parses a message (single-part or multipart) and decodes its parts.
// It fails the test on a malformed message.
func Decode(t testing.TB, data []byte) Decoded {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err, "mail:\n%s", data)
	d := Decoded{Header: m.Header, Parts: map[string]string{}}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	if !strings.HasPrefix(mediaType, "multipart/") {
		d.Parts[mediaType] = decodePart(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
		return d
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return d
		}
		require.NoError(t, err)
		mt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		require.NoError(t, err)
		d.Parts[mt] = decodePart(t, p.Header.Get("Content-Transfer-Encoding"), p)
	}
}

func decodePart(t testing.TB, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}
