package mail

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// SendError is the error of a failed Send.
type SendError struct {
	// Code is the SMTP reply code that caused the failure, 0 when none
	// (network error, timeout, bad message).
	Code int
	// Permanent is true when retrying cannot help (see IsPermanent).
	Permanent bool
	// Err is the cause.
	Err error
}

func (e *SendError) Error() string {
	kind := "temporary"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Code != 0 {
		return fmt.Sprintf("mail: %s failure (SMTP %d): %v", kind, e.Code, e.Err)
	}
	return fmt.Sprintf("mail: %s failure: %v", kind, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a send failure that retrying cannot
// fix: a 5xx SMTP reply (550 no such user, 554 rejected, 535 bad
// credentials…), a message that cannot be built (bad address, no body), or
// a server that cannot authenticate us safely. 4xx replies, timeouts and
// network errors are retryable.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// permanent wraps a failure that no retry can fix.
func permanent(err error) *SendError {
	return &SendError{Permanent: true, Err: err}
}

// classify wraps an error from go-mail into a SendError.
func classify(err error) *SendError {
	code := replyCode(err)
	se := &SendError{Code: code, Err: err}
	switch {
	case code >= 500:
		se.Permanent = true
	case code >= 400:
	case errors.Is(err, smtp.ErrUnencrypted),
		errors.Is(err, smtp.ErrWrongHostname),
		errors.Is(err, gomail.ErrPlainAuthNotSupported),
		errors.Is(err, gomail.ErrLoginAuthNotSupported),
		errors.Is(err, gomail.ErrNoSupportedAuthDiscovered):
		// Our configuration and the server disagree; retrying won't help.
		se.Permanent = true
	case strings.Contains(err.Error(), "server does not support SMTP AUTH"):
		// go-mail's (unexported) error when a username is set but the
		// server offers no AUTH at all.
		se.Permanent = true
	default:
		var ge *gomail.SendError
		if errors.As(err, &ge) {
			switch ge.Reason {
			case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
				se.Permanent = true
			}
		}
	}
	return se
}

// replyCode digs the SMTP reply code out of err, 0 when there is none.
func replyCode(err error) int {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code
	}
	var ge *gomail.SendError
	if errors.As(err, &ge) {
		return ge.ErrorCode()
	}
	return 0
}
