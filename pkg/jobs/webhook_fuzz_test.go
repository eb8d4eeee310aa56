package jobs_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hopperq/hopper/pkg/jobs"
)

// FuzzParseWebhookURL: an accepted webhook URL is at most 2,048 bytes,
// http or https, has a host and no control characters, and the HTTP
// client parses it to the same host and port (so the address the guard
// judges is the one dialled); a refused one has a one-line error.
// (testdata/fuzz holds what it found: control characters in the fragment.)
func FuzzParseWebhookURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/hopper",
		"http://93.184.216.34:8080/x?y=1#z",
		"https://user:pw@hooks.example.com/x",
		"https://[2001:db8::1]:8443/x",
		"http://[fe80::1%25eth0]/",
		"https://hooks.example.com\\@evil.example/",
		"https://evil.example#@hooks.example.com/",
		"http://hooks.example.com:80:80/",
		"HTTPS://HOOKS.EXAMPLE.COM/",
		"ftp://hooks.example.com/x",
		"hooks.example.com/x",
		"https:///x",
		"http://:80/",
		"http://a b/",
		"http://host/\r\nX-Injected: 1",
		"https://hooks.example.com/" + strings.Repeat("a", 2048),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := jobs.ParseWebhookURL(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error on several lines: %q", err.Error())
			}
			return
		}
		if len(s) > 2048 {
			t.Fatalf("accepted %d bytes", len(s))
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		if u.Hostname() == "" {
			t.Fatalf("accepted %q without a host", s)
		}
		if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("accepted control characters or invalid UTF-8 in %q", s)
		}
		req, err := http.NewRequest(http.MethodPost, s, nil)
		if err != nil {
			t.Fatalf("accepted %q, which the HTTP client refuses: %v", s, err)
		}
		if req.URL.Hostname() != u.Hostname() || req.URL.Port() != u.Port() {
			t.Fatalf("%q: checked host %q port %q, client dials %q port %q", s, u.Hostname(), u.Port(), req.URL.Hostname(), req.URL.Port())
		}
	})
}
