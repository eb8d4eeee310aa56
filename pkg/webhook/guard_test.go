package webhook

import (
	"strings"
	"testing"

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
