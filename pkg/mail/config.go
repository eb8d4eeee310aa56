package mail

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"
)

// Setting names. The service reads them; this package takes a Config.
const (
	SettingHost     = "HOPPER_SMTP_HOST"
	SettingPort     = "HOPPER_SMTP_PORT"
	SettingUsername = "HOPPER_SMTP_USERNAME"
	SettingPassword = "HOPPER_SMTP_PASSWORD"
	SettingFrom     = "HOPPER_SMTP_FROM"
	SettingTLS      = "HOPPER_SMTP_TLS"
)

// DefaultTimeout bounds connecting and each SMTP command when
// Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// TLSMode is how the connection to the SMTP server is protected.
type TLSMode string

// The TLS modes (HOPPER_SMTP_TLS).
const (
	// TLSStartTLS connects in clear and requires STARTTLS (port 587). The
	// default.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit TLSMode = "tls"
	// TLSNone never encrypts (port 25; local relays and tests). Credentials
	// are then only sent to localhost.
	TLSNone TLSMode = "none"
)

// ParseTLSMode reads a HOPPER_SMTP_TLS value; "" is TLSStartTLS.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(strings.ToLower(strings.TrimSpace(s))); m {
	case "":
		return TLSStartTLS, nil
	case TLSStartTLS, TLSImplicit, TLSNone:
		return m, nil
	default:
		return "", fmt.Errorf("%s: %q is not one of none, starttls, tls", SettingTLS, s)
	}
}

// defaultPort is the usual port for a TLS mode.
func (m TLSMode) defaultPort() int {
	switch m {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	default:
		return 587
	}
}

// Config is the SMTP configuration.
type Config struct {
	Host     string  // HOPPER_SMTP_HOST; empty = mail not configured
	Port     int     // HOPPER_SMTP_PORT; 0 = 587, 465 or 25 by TLS mode
	Username string  // HOPPER_SMTP_USERNAME; empty = no SMTP AUTH
	Password string  // HOPPER_SMTP_PASSWORD
	From     string  // HOPPER_SMTP_FROM, e.g. "Hopper <hopper@example.com>"
	TLS      TLSMode // HOPPER_SMTP_TLS; "" = starttls
	// Timeout bounds connecting and each SMTP command; 0 = DefaultTimeout.
	Timeout time.Duration
	// TLSConfig overrides the TLS client settings (e.g. RootCAs for an
	// internal relay). nil = system roots, ServerName = Host, TLS 1.2+.
	TLSConfig *tls.Config
}

// Redacted returns a copy safe to log: the password is masked.
func (c Config) Redacted() Config {
	if c.Password != "" {
		c.Password = "*****"
	}
	return c
}

// ErrNotConfigured is returned by New when a required setting is empty.
type ErrNotConfigured struct {
	Setting string
}

func (e ErrNotConfigured) Error() string {
	return "mail not configured: set " + e.Setting
}

// withDefaults validates c and fills in the defaults.
func (c Config) withDefaults() (Config, error) {
	c.Host = strings.TrimSpace(c.Host)
	if c.Host == "" {
		return c, ErrNotConfigured{Setting: SettingHost}
	}
	if strings.TrimSpace(c.From) == "" {
		return c, ErrNotConfigured{Setting: SettingFrom}
	}
	mode, err := ParseTLSMode(string(c.TLS))
	if err != nil {
		return c, err
	}
	c.TLS = mode
	if c.Port == 0 {
		c.Port = mode.defaultPort()
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("%s: %d is not a port", SettingPort, c.Port)
	}
	if c.Password != "" && c.Username == "" {
		return c, fmt.Errorf("%s: set with an empty %s", SettingPassword, SettingUsername)
	}
	switch {
	case c.Timeout < 0:
		return c, fmt.Errorf("mail: negative timeout %s", c.Timeout)
	case c.Timeout == 0:
		c.Timeout = DefaultTimeout
	}
	if c.TLSConfig == nil {
		c.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		c.TLSConfig = c.TLSConfig.Clone()
	}
	if c.TLSConfig.ServerName == "" {
		c.TLSConfig.ServerName = c.Host
	}
	return c, nil
}
