package jobs

import (
	"fmt"
	"net/mail"
	"strings"
)

// MaxEmailAddressBytes is RFC 5321's path limit.
const MaxEmailAddressBytes = 254

// CheckEmailAddress accepts one address, bare ("ada@example.com") or
// with a display name ("Ada <ada@example.com>").
func CheckEmailAddress(s string) error {
	if len(s) > MaxEmailAddressBytes {
		return fmt.Errorf("longer than %d bytes", MaxEmailAddressBytes)
	}
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("%q contains a line break", s)
	}
	if _, err := mail.ParseAddress(s); err != nil {
		return fmt.Errorf("%q is not an e-mail address", s)
	}
	return nil
}

// normalizeNotifyEmail validates a submit's notify_email and returns the
// bare address.
func normalizeNotifyEmail(s string) (string, error) {
	if err := CheckEmailAddress(s); err != nil {
		return "", err
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("%q is not an e-mail address", s)
	}
	return a.Address, nil
}
