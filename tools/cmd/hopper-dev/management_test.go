package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestManagementURL: the management API is looked for on the AMQP
// broker's host with its credentials; the default AMQP URL gives the
// README's http://guest:guest@127.0.0.1:15672.
func TestManagementURL(t *testing.T) {
	t.Parallel()
	for amqpURL, want := range map[string]string{
		"":                                       "http://guest:guest@127.0.0.1:15672",
		"amqp://guest:guest@127.0.0.1:5672/":     "http://guest:guest@127.0.0.1:15672",
		"amqp://ops:s%40cret@mq.local:5673/prod": "http://ops:s%40cret@mq.local:15672",
		"amqps://ops:pw@mq.example.com/":         "https://ops:pw@mq.example.com:15671",
		"amqp://[::1]:5672/":                     "http://guest:guest@[::1]:15672",
	} {
		got, err := managementURL(amqpURL)
		require.NoError(t, err, amqpURL)
		assert.Equal(t, want, got, amqpURL)
	}
	_, err := managementURL("http://not-amqp")
	assert.Error(t, err)
}

// TestManagementUp: the URL is used only when the management API answers
// GET /api/overview with these credentials.
func TestManagementUp(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if r.URL.Path != "/api/overview" || user != "guest" || pass != "guest" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"rabbitmq_version":"3.13.7"}`))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	assert.True(t, managementUp(t.Context(), "http://guest:guest@"+host))
	assert.False(t, managementUp(t.Context(), "http://guest:wrong@"+host), "wrong credentials")
	srv.Close()
	assert.False(t, managementUp(t.Context(), "http://guest:guest@"+host), "nothing listening")
	assert.Equal(t, "http://"+host, withoutUser("http://guest:guest@"+host))
}
