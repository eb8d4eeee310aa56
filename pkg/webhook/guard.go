package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"

	"github.com/hopperq/hopper/pkg/jobs"
)

// SettingAllowPrivate names the setting that lets webhooks reach loopback,
// private and link-local addresses (for development and for receivers
// inside the same network). Its value is passed as allowPrivate; this
// package does not read the environment.
const SettingAllowPrivate = "HOPPER_WEBHOOK_ALLOW_PRIVATE"

// Guard errors; CheckURL and the delivery dialer wrap one of them.
var (
	ErrInvalidURL       = errors.New("webhook: invalid URL")
	ErrForbiddenAddress = errors.New("webhook: address not allowed")
)

// forbiddenRanges lists ranges refused besides those the netip predicates
// cover, with the reason given. The IPv6 ones embed or reach an IPv4
// address by translation or tunnelling, so a guard that judged them as
// IPv6 could be walked past to 127.0.0.1 or 10.0.0.0/8 where a relay or
// translator exists: they are refused whatever IPv4 address they carry.
var forbiddenRanges = [...]struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved (this network)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "reserved (carrier-grade NAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved (IETF protocol assignments)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved (benchmarking)"},
	{netip.MustParsePrefix("255.255.255.255/32"), "reserved (broadcast)"},
	{netip.MustParsePrefix("::/96"), "IPv4-compatible (deprecated, embeds an IPv4 address)"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated (SIIT, embeds an IPv4 address)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (embeds an IPv4 address)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64 local-use (embeds an IPv4 address)"},
	{netip.MustParsePrefix("100::/64"), "reserved (discard-only)"},
	{netip.MustParsePrefix("2001::/32"), "Teredo (tunnels to an embedded IPv4 address)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (tunnels to an embedded IPv4 address)"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated, private)"},
}

// forbiddenIP reports why ip may not be a webhook target, or "" when it
// may. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4
// address.
func forbiddenIP(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "multicast"
	}
	ip = ip.WithZone("") // Prefix.Contains is false for any zoned address
	for _, r := range forbiddenRanges {
		if r.prefix.Contains(ip) {
			return r.why
		}
	}
	return ""
}

// CheckURL validates a webhook target without touching the network: only
// http and https, a host is required, and unless allowPrivate it refuses
// hosts that are literal loopback, private (RFC 1918, fc00::/7),
// link-local (169.254.0.0/16 — cloud metadata — and fe80::/10),
// unspecified, multicast or otherwise reserved addresses, "localhost"
// names, and numeric forms that are not plain IP addresses (such as
// "2130706433" or "0x7f.1", which some resolvers read as 127.0.0.1).
//
// A host name is not resolved here: the Deliverer's dialer checks the
// addresses it resolves to at connect time, which also defeats DNS
// rebinding.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := jobs.ParseWebhookURL(raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := forbiddenIP(ip); why != "" {
			return fmt.Errorf("%w: %s is %s (set %s to allow)", ErrForbiddenAddress, ip, why, SettingAllowPrivate)
		}
		return nil
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("%w: %s is loopback (set %s to allow)", ErrForbiddenAddress, host, SettingAllowPrivate)
	}
	if looksNumeric(host) {
		return fmt.Errorf("%w: ambiguous numeric host %q", ErrInvalidURL, host)
	}
	return nil
}

// looksNumeric reports whether host is made only of digits, dots and hex
// markers, i.e. an IPv4 address in a legacy form (decimal, octal, hex,
// fewer than four parts) that netip does not accept.
func looksNumeric(host string) bool {
	for _, label := range strings.Split(host, ".") {
		l := strings.TrimPrefix(label, "0x")
		if l == "" {
			continue
		}
		for _, r := range l {
			isHex := (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f')
			if !isHex || (!strings.HasPrefix(label, "0x") && (r < '0' || r > '9')) {
				return false
			}
		}
	}
	return true
}

// dialControl is a net.Dialer Control func that refuses forbidden
// addresses. It runs after name resolution, for every address the dialer
// tries, so a name that resolves (or rebinds) to 127.0.0.1 is refused.
func dialControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dial address %q: %w", ErrForbiddenAddress, address, err)
	}
	if why := forbiddenIP(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is %s (set %s to allow)", ErrForbiddenAddress, ap.Addr().Unmap(), why, SettingAllowPrivate)
	}
	return nil
}
