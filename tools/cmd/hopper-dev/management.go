package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// defaultAMQPURL is pkg/config's default HOPPER_AMQP_URL.
const defaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/"

// managementURL is where the broker of amqpURL serves the RabbitMQ
// management API when its plugin is on: the same host, port 15672 (15671
// for amqps), the same credentials. It is the value for
// HOPPER_RABBITMQ_MANAGEMENT_URL, which gives GET /v1/queues its unacked
// counts and rates.
func managementURL(amqpURL string) (string, error) {
	if amqpURL == "" {
		amqpURL = defaultAMQPURL
	}
	uri, err := amqp.ParseURI(amqpURL)
	if err != nil {
		return "", err
	}
	scheme, port := "http", 15672
	if uri.Scheme == "amqps" {
		scheme, port = "https", 15671
	}
	u := url.URL{
		Scheme: scheme,
		User:   url.UserPassword(uri.Username, uri.Password),
		Host:   net.JoinHostPort(uri.Host, strconv.Itoa(port)),
	}
	return u.String(), nil
}

// managementUp reports whether the management API at base (with its
// credentials) answers: GET /api/overview is 200.
func managementUp(ctx context.Context, base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	user := u.User
	u.User = nil
	u.Path = "/api/overview"
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	if user != nil {
		pass, _ := user.Password()
		req.SetBasicAuth(user.Username(), pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// withoutUser is u without its credentials, for printing.
func withoutUser(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}
