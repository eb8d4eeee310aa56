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

// SameAddress reports whether a and b name one mailbox: their bare
// addresses (display names dropped) equal but for case. Local parts are
// case-sensitive by the letter of RFC 5321 and case-blind in practice;
// mail only ever goes to an address already proven, so the lenient
// reading lets "Ada@Example.com" match "ada@example.com" and nothing else.
func SameAddress(a, b string) bool {
	pa, err := mail.ParseAddress(a)
	if err != nil {
		return false
	}
	pb, err := mail.ParseAddress(b)
	if err != nil {
		return false
	}
	return strings.EqualFold(pa.Address, pb.Address)
}
