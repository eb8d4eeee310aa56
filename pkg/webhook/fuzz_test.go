package webhook

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hopperq/hopper/pkg/jobs"
)

// notPublic lists, independently of guard.go, where a webhook must never
// connect: loopback, private, link-local, "this network", CGNAT,
// multicast, broadcast, reserved, and the IPv6 ranges that embed or
// tunnel to an IPv4 address.
var notPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "255.255.255.255/32",
		"::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2002::/16",
		"fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

func public(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range notPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// legacyIPv4 reports whether host is an IPv4 address in a form some
// resolvers accept (inet_aton: 1 to 4 parts, decimal, octal or hex), like
// 2130706433, 0x7f.1 or 017700000001.
func legacyIPv4(host string) bool {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if !inetAtonPart(p) {
			return false
		}
	}
	return true
}

// inetAtonPart reports whether p is a part inet_aton reads as a number:
// "0x" and hex digits, or digits (octal after a leading 0). Go's own
// literal syntax (strconv base 0) is wider — "0o0", "0b1", "0x_7f" — and
// no resolver reads those as numbers, so they are names.
func inetAtonPart(p string) bool {
	digits, isDigit := strings.ToLower(p), func(r rune) bool { return r >= '0' && r <= '9' }
	if rest, ok := strings.CutPrefix(digits, "0x"); ok {
		digits, isDigit = rest, func(r rune) bool { return isDigitOrHex(r) }
	} else if digits == "" {
		return false
	}
	for _, r := range digits {
		if !isDigit(r) {
			return false
		}
	}
	return true
}

func isDigitOrHex(r rune) bool { return (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f') }

// FuzzCheckURL: CheckURL returns nil or an error wrapping exactly one of
// ErrInvalidURL and ErrForbiddenAddress (never the latter when private
// addresses are allowed); allowing private addresses only widens it; an
// accepted IP literal is public (judged by an independent table) and the
// dial guard accepts it, a refused one the dial guard refuses too; an
// accepted name is neither localhost nor a legacy numeric IPv4 form. The
// dial guard, given any 4 or 16 bytes as an address, accepts exactly the
// public ones.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/hopper",
		"http://93.184.216.34:8080/x",
		"http://127.0.0.1/",
		"http://0x_7f.1/", // names, not numbers: the oracle once thought otherwise
		"http://127.0O0.1/",
		"http://[::ffff:10.0.0.1]/",
		"http://[::ffff:a9fe:a9fe]/",
		"http://[2002:7f00:1::]/",
		"http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
		"http://[64:ff9b::7f00:1%25eth0]/",
		"http://[::127.0.0.1]/",
		"http://2130706433/",
		"http://0x7f.1/",
		"http://017700000001/",
		"http://LOCALHOST./",
		"http://a.localhost/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[fe80::1%25eth0]/",
		"ftp://hooks.example.com/",
	} {
		f.Add(s, false, []byte{127, 0, 0, 1})
	}
	f.Add("https://hooks.example.com/", true, netip.MustParseAddr("2002:a00:1::").AsSlice())
	f.Add("http://10.0.0.1/", true, netip.MustParseAddr("::ffff:10.0.0.1").AsSlice())
	f.Add("http://x/", false, []byte{93, 184, 216, 34})
	f.Fuzz(func(t *testing.T, raw string, allowPrivate bool, addr []byte) {
		err := CheckURL(raw, allowPrivate)
		invalid, forbidden := errors.Is(err, ErrInvalidURL), errors.Is(err, ErrForbiddenAddress)
		switch {
		case err != nil && invalid == forbidden:
			t.Fatalf("error %v: want exactly one of ErrInvalidURL, ErrForbiddenAddress", err)
		case allowPrivate && forbidden:
			t.Fatalf("%q refused as forbidden with private addresses allowed: %v", raw, err)
		case !allowPrivate && err == nil && CheckURL(raw, true) != nil:
			t.Fatalf("%q accepted, but refused with private addresses allowed", raw)
		}
		if !allowPrivate && !invalid {
			u, perr := jobs.ParseWebhookURL(raw)
			if perr != nil {
				t.Fatalf("%q passed CheckURL but not ParseWebhookURL: %v", raw, perr)
			}
			host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
			if ip, ierr := netip.ParseAddr(host); ierr == nil {
				dialErr := dialControl("tcp", netip.AddrPortFrom(ip, 443).String(), nil)
				switch {
				case err == nil && !public(ip):
					t.Fatalf("%q accepted: %s is not public", raw, ip)
				case err == nil && dialErr != nil:
					t.Fatalf("%q accepted, but the dial guard refuses %s: %v", raw, ip, dialErr)
				case err != nil && dialErr == nil:
					t.Fatalf("%q refused (%v), but the dial guard accepts %s", raw, err, ip)
				}
			} else if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost") || legacyIPv4(host)) {
				t.Fatalf("%q accepted with host %q", raw, host)
			}
		}

		ip, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		dialErr := dialControl("tcp", netip.AddrPortFrom(ip, 443).String(), nil)
		if (dialErr == nil) != public(ip) {
			t.Fatalf("dial guard on %s: %v, public %v", ip, dialErr, public(ip))
		}
		if dialErr != nil && !errors.Is(dialErr, ErrForbiddenAddress) {
			t.Fatalf("dial guard error %v does not wrap ErrForbiddenAddress", dialErr)
		}
	})
}
