package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail. At least one of Text and HTML is required; with
// both, the message is multipart/alternative.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Sender sends mail through one SMTP server. It is safe for concurrent
// use: every Send opens its own connection.
type Sender struct {
	cfg Config
}

// New returns a Sender for cfg. An empty Host returns
// ErrNotConfigured{Setting: "HOPPER_SMTP_HOST"}, an empty From
// ErrNotConfigured{Setting: "HOPPER_SMTP_FROM"}.
func New(cfg Config) (*Sender, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := gomail.NewMsg().From(cfg.From); err != nil {
		return nil, fmt.Errorf("%s: %w", SettingFrom, err)
	}
	return &Sender{cfg: cfg}, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Sender) Config() Config { return s.cfg }

// Send makes one attempt to deliver m. Cancelling ctx aborts the SMTP
// conversation; Config.Timeout bounds connecting and each command. A
// failure is a *SendError: see IsPermanent.
func (s *Sender) Send(ctx context.Context, m Message) error {
	_, err := s.SendID(ctx, m)
	return err
}

// SendID is Send that also returns the Message-ID header it set (with its
// angle brackets), e.g. to show in a job's result.
func (s *Sender) SendID(ctx context.Context, m Message) (messageID string, err error) {
	msg, err := s.build(m)
	if err != nil {
		return "", permanent(err)
	}
	// Close the connection when ctx ends: go-mail only uses the context
	// to dial and relies on deadlines afterwards.
	var stops []func() bool
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := s.dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		stops = append(stops, context.AfterFunc(ctx, func() { _ = conn.Close() }))
		return conn, nil
	}
	client, err := s.client(dial)
	if err != nil {
		return "", permanent(err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", &SendError{Err: fmt.Errorf("%w: %w", ctxErr, err)}
		}
		return "", classify(err)
	}
	return msg.GetMessageID(), nil
}

// build turns m into a go-mail message.
func (s *Sender) build(m Message) (*gomail.Msg, error) {
	if len(m.To) == 0 {
		return nil, errors.New("mail: no recipient")
	}
	if m.Text == "" && m.HTML == "" {
		return nil, errors.New("mail: empty message (no text and no HTML)")
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("mail: from %q: %w", s.cfg.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(strings.Join(strings.Fields(m.Subject), " "))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("Hopper")
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// client builds a go-mail client for one Send.
func (s *Sender) client(dial gomail.DialContextFunc) (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(s.cfg.Port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSConfig(s.cfg.TLSConfig),
		gomail.WithDialContextFunc(dial),
	}
	switch s.cfg.TLS {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // none, or tls where dial already wrapped the connection
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.cfg.Username != "" {
		// PLAIN and LOGIN refuse to send the password over an unencrypted
		// connection to anything but localhost; the rest are
		// challenge-response mechanisms, found by discovery.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password),
		)
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: client: %w", err)
	}
	return c, nil
}

// dial connects to the server, speaking TLS from the start in TLSImplicit
// mode.
func (s *Sender) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	if s.cfg.TLS == TLSImplicit {
		td := &tls.Dialer{NetDialer: d, Config: s.cfg.TLSConfig}
		return td.DialContext(ctx, network, addr)
	}
	return d.DialContext(ctx, network, addr)
}
