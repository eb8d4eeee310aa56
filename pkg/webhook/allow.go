package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/hopperq/hopper/pkg/jobs"
)

// AllowList names internal hosts an operator lets deliveries reach past
// the guard (HOPPER_PUSH_ALLOW_HOSTS): exact host names ("inference.svc"),
// IP addresses ("127.0.0.1") and CIDR ranges ("10.0.0.0/8"). A name is
// matched as the URL gives it, before resolution, and its addresses are
// then not checked: allow-list a name only where its DNS is yours. An
// address or range is matched at connect time, whatever name led there.
type AllowList struct {
	hosts    []string
	prefixes []netip.Prefix
}

// ParseAllowList reads a comma-separated list of host names, IP
// addresses and CIDR ranges; spaces and empty entries are ignored.
func ParseAllowList(s string) (AllowList, error) {
	var a AllowList
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(e)), ".")
		switch {
		case e == "":
			continue
		case strings.Contains(e, "/"):
			p, err := netip.ParsePrefix(e)
			if err != nil {
				return AllowList{}, fmt.Errorf("allow-list entry %q: %w", e, err)
			}
			a.prefixes = append(a.prefixes, p.Masked())
		default:
			if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
				a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(e, ":/@ ") || looksNumeric(e) {
				return AllowList{}, fmt.Errorf("allow-list entry %q: want a host name, an IP address or a CIDR range", e)
			}
			a.hosts = append(a.hosts, e)
		}
	}
	return a, nil
}

// Empty reports whether the list allows nothing.
func (a AllowList) Empty() bool { return len(a.hosts) == 0 && len(a.prefixes) == 0 }

// String lists the entries, comma-separated.
func (a AllowList) String() string {
	out := slices.Clone(a.hosts)
	for _, p := range a.prefixes {
		if p.IsSingleIP() {
			out = append(out, p.Addr().String())
		} else {
			out = append(out, p.String())
		}
	}
	return strings.Join(out, ",")
}

// allowsHost reports whether host (a name or literal address, as in a
// URL) is on the list.
func (a AllowList) allowsHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		return a.allowsIP(ip)
	}
	return slices.Contains(a.hosts, host)
}

func (a AllowList) allowsIP(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	return slices.ContainsFunc(a.prefixes, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// CheckURLAllowing is CheckURL that lets hosts on allow through: a URL
// whose host is an allow-listed name or address passes whatever it is.
func CheckURLAllowing(raw string, allow AllowList) error {
	if err := CheckURL(raw, true); err != nil {
		return err
	}
	u, _ := jobs.ParseWebhookURL(raw)
	if allow.allowsHost(u.Hostname()) {
		return nil
	}
	return CheckURL(raw, false)
}

// guardedDial dials through the guard unless allowPrivate: an
// allow-listed host name is dialled as is, anything else has every
// address it resolves to checked at connect time, allow-listed ranges
// passing.
func guardedDial(d *net.Dialer, allowPrivate bool, allow AllowList) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if allowPrivate {
		return d.DialContext
	}
	guarded := *d
	guarded.Control = func(network, address string, c syscall.RawConn) error {
		if ap, err := netip.ParseAddrPort(address); err == nil && allow.allowsIP(ap.Addr()) {
			return nil
		}
		return dialControl(network, address, c)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && len(allow.hosts) > 0 && slices.Contains(allow.hosts, strings.ToLower(host)) {
			return d.DialContext(ctx, network, addr)
		}
		return guarded.DialContext(ctx, network, addr)
	}
}
