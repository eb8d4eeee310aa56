package webhook

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url          string
		allowPrivate bool
		wantErr      error
	}{
		{url: "https://hooks.example.com/hopper"},
		{url: "http://93.184.216.34:8080/x"},
		{url: "https://[2001:db8::1]/x"},
		{url: "https://user:pw@hooks.example.com/x"},
		{url: "ftp://hooks.example.com/x", wantErr: ErrInvalidURL},
		{url: "file:///etc/passwd", wantErr: ErrInvalidURL},
		{url: "hooks.example.com/x", wantErr: ErrInvalidURL},
		{url: "https:///x", wantErr: ErrInvalidURL},
		{url: "https://exa mple.com/", wantErr: ErrInvalidURL},
		{url: "http://:80/", wantErr: ErrInvalidURL},
		{url: "https://hooks.example.com/" + strings.Repeat("a", 2048), wantErr: ErrInvalidURL},
		{url: "http://127.0.0.1:8080/", wantErr: ErrForbiddenAddress},
		{url: "http://127.9.9.9/", wantErr: ErrForbiddenAddress},
		{url: "http://[::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:127.0.0.1]/", wantErr: ErrForbiddenAddress},
		{url: "http://localhost:3000/", wantErr: ErrForbiddenAddress},
		{url: "http://LOCALHOST./", wantErr: ErrForbiddenAddress},
		{url: "http://api.localhost/", wantErr: ErrForbiddenAddress},
		{url: "http://10.1.2.3/", wantErr: ErrForbiddenAddress},
		{url: "http://172.16.0.1/", wantErr: ErrForbiddenAddress},
		{url: "http://192.168.1.1/", wantErr: ErrForbiddenAddress},
		{url: "http://[fd12:3456::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://169.254.169.254/latest/meta-data/", wantErr: ErrForbiddenAddress},
		{url: "http://[fe80::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://0.0.0.0/", wantErr: ErrForbiddenAddress},
		{url: "http://[::]/", wantErr: ErrForbiddenAddress},
		{url: "http://224.0.0.1/", wantErr: ErrForbiddenAddress},
		{url: "http://[ff02::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://100.64.0.1/", wantErr: ErrForbiddenAddress},
		{url: "http://[64:ff9b::7f00:1]/", wantErr: ErrForbiddenAddress},
		{url: "https://[2606:2800:220:1:248:1893:25c8:1946]/x"},
		{url: "https://[::ffff:93.184.216.34]/x"}, // mapped public IPv4: that address
		// IPv4-mapped forms of private, loopback, link-local and reserved
		// addresses, dotted and hex.
		{url: "http://[::ffff:10.0.0.1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:192.168.1.1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:172.16.0.1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:169.254.169.254]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:a9fe:a9fe]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:7f00:1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:100.64.0.1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:0.0.0.0]/", wantErr: ErrForbiddenAddress},
		{url: "http://[0:0:0:0:0:ffff:127.0.0.1]/", wantErr: ErrForbiddenAddress},
		// IPv4-compatible and IPv4-translated (SIIT) forms.
		{url: "http://[::127.0.0.1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::a9fe:a9fe]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::93.184.216.34]/", wantErr: ErrForbiddenAddress},
		{url: "http://[::ffff:0:7f00:1]/", wantErr: ErrForbiddenAddress},
		// 6to4 (2002::/16) carrying loopback, private or public IPv4.
		{url: "http://[2002:7f00:1::]/", wantErr: ErrForbiddenAddress},
		{url: "http://[2002:a00:1::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[2002:a9fe:a9fe::]/", wantErr: ErrForbiddenAddress},
		{url: "http://[2002:5db8:d822::1]/", wantErr: ErrForbiddenAddress},
		// Teredo (2001::/32).
		{url: "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", wantErr: ErrForbiddenAddress},
		{url: "http://[2001::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[2001:0:ffff:ffff::]/", wantErr: ErrForbiddenAddress},
		// NAT64 (64:ff9b::/96, 64:ff9b:1::/48), also with a zone.
		{url: "http://[64:ff9b::a00:1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[64:ff9b::5db8:d822]/", wantErr: ErrForbiddenAddress},
		{url: "http://[64:ff9b:1::a00:1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[64:ff9b::7f00:1%25eth0]/", wantErr: ErrForbiddenAddress},
		{url: "http://[fec0::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[100::1]/", wantErr: ErrForbiddenAddress},
		{url: "http://[2002:7f00:1::]/", allowPrivate: true},
		{url: "http://2130706433/", wantErr: ErrInvalidURL},
		{url: "http://0x7f.1/", wantErr: ErrInvalidURL},
		{url: "http://127.1/", wantErr: ErrInvalidURL},
		{url: "http://127.0.0.1:8080/", allowPrivate: true},
		{url: "http://localhost/", allowPrivate: true},
		{url: "http://169.254.169.254/", allowPrivate: true},
		{url: "ftp://127.0.0.1/", allowPrivate: true, wantErr: ErrInvalidURL},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			err := CheckURL(tc.url, tc.allowPrivate)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

func TestDialControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr    string
		allowed bool
	}{
		{addr: "93.184.216.34:443", allowed: true},
		{addr: "[2606:2800:220:1:248:1893:25c8:1946]:443", allowed: true},
		{addr: "127.0.0.1:80"},
		{addr: "[::1]:80"},
		{addr: "[::ffff:127.0.0.1]:80"},
		{addr: "10.0.0.1:80"},
		{addr: "192.168.0.10:80"},
		{addr: "[fc00::1]:80"},
		{addr: "169.254.169.254:80"},
		{addr: "[fe80::1%eth0]:80"},
		{addr: "0.0.0.0:80"},
		{addr: "239.1.1.1:80"},
		{addr: "not-an-address"},
		{addr: "[::ffff:93.184.216.34]:443", allowed: true},
		{addr: "[2001:db8::1]:443", allowed: true},
		{addr: "[::ffff:10.0.0.1]:80"},
		{addr: "[::ffff:a9fe:a9fe]:80"},
		{addr: "[::ffff:192.168.0.1]:80"},
		{addr: "[::127.0.0.1]:80"},
		{addr: "[::ffff:0:a00:1]:80"},
		{addr: "[2002:7f00:1::]:80"},
		{addr: "[2002:c0a8:1::1]:80"},
		{addr: "[2002:5db8:d822::1]:80"},
		{addr: "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:80"},
		{addr: "[2001::]:80"},
		{addr: "[64:ff9b::a9fe:a9fe]:80"},
		{addr: "[64:ff9b::5db8:d822]:80"},
		{addr: "[64:ff9b:1::1]:80"},
		{addr: "[64:ff9b::7f00:1%eth0]:80"},
		{addr: "[fec0::1]:80"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			err := dialControl("tcp", tc.addr, nil)
			if tc.allowed {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrForbiddenAddress)
		})
	}
}

// TestForbiddenIPReasons: the reason in the error names the range, so an
// operator sees why an address was refused.
func TestForbiddenIPReasons(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ip, why string
	}{
		{"2002:7f00:1::", "6to4 (tunnels to an embedded IPv4 address)"},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo (tunnels to an embedded IPv4 address)"},
		{"64:ff9b::a00:1", "NAT64 (embeds an IPv4 address)"},
		{"64:ff9b:1::a00:1", "NAT64 local-use (embeds an IPv4 address)"},
		{"::10.0.0.1", "IPv4-compatible (deprecated, embeds an IPv4 address)"},
		{"::ffff:0:a00:1", "IPv4-translated (SIIT, embeds an IPv4 address)"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:100.64.0.1", "reserved (carrier-grade NAT)"},
		{"93.184.216.34", ""},
		{"::ffff:93.184.216.34", ""},
		{"2606:2800:220:1:248:1893:25c8:1946", ""},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.why, forbiddenIP(netip.MustParseAddr(tc.ip)), tc.ip)
	}
	err := CheckURL("http://[2002:a00:1::1]/hook", false)
	require.ErrorIs(t, err, ErrForbiddenAddress)
	assert.Equal(t, "webhook: address not allowed: 2002:a00:1::1 is 6to4 (tunnels to an embedded IPv4 address) (set HOPPER_WEBHOOK_ALLOW_PRIVATE to allow)", err.Error())
}
