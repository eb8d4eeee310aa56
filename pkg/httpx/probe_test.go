package httpx_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/httpx"
)

func TestProbe(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)

	tests := []struct {
		name    string
		addr    string
		path    string
		wantErr bool
	}{
		{"explicit host", srv.Listener.Addr().String(), "/healthz", false},
		{"wildcard host probes loopback", ":" + port, "/healthz", false},
		{"0.0.0.0 probes loopback", "0.0.0.0:" + port, "/healthz", false},
		{"non-2xx fails", ":" + port, "/readyz", true},
		{"bad address", "nonsense", "/healthz", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := httpx.Probe(context.Background(), tt.addr, tt.path)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
		})
	}
}
