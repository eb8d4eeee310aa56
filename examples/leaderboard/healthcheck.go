package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// healthcheck is `leaderboard healthcheck`, the image's HEALTHCHECK
// (distroless carries no curl): it GETs this service's own /healthz on
// HOPPER_METRICS_ADDR and returns the exit code, 0 when healthy.
func healthcheck() int {
	addr := os.Getenv("HOPPER_METRICS_ADDR")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		fmt.Fprintf(os.Stderr, "leaderboard healthcheck: HOPPER_METRICS_ADDR %q names no fixed port\n", addr)
		return 1
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "leaderboard healthcheck:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "leaderboard healthcheck: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}
