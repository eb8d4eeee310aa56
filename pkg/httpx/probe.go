package httpx

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Probe asks a service on this host for path (e.g. /healthz) and returns
// nil on a 2xx answer. It is the container image's HEALTHCHECK: distroless
// images carry no curl, so each binary probes itself (`gateway healthcheck`).
// listenAddr is the service's own listen address; a wildcard host
// (":8080", "0.0.0.0:8080", "[::]:8080") is probed on loopback.
func Probe(ctx context.Context, listenAddr, path string) error {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return fmt.Errorf("probe: bad address %q: %w", listenAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("probe %s: status %d", url, resp.StatusCode)
	}
	return nil
}
