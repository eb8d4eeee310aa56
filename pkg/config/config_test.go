package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/config"
)

func env(m map[string]string) config.Getenv {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(config.ChatWorker, env(nil))
	require.NoError(t, err)
	assert.Equal(t, "dev", c.Env)
	assert.Equal(t, config.DefaultDatabaseURL, c.DatabaseURL)
	assert.Equal(t, "hopper", c.AMQPPrefix)
	assert.Equal(t, "classic", c.QueueType)
	assert.Equal(t, "127.0.0.1:9101", c.MetricsAddr)
	assert.Equal(t, []string{"chat"}, c.QueueNames())
	assert.Equal(t, 25*time.Second, c.ShutdownGrace)

	g, err := config.Load(config.Gateway, env(nil))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", g.HTTPAddr)
	assert.Empty(t, g.Queues)
	assert.Empty(t, g.RabbitMQManagementURL, "queue figures come from AMQP unless set")
	assert.Equal(t, "127.0.0.1:9100", g.MetricsAddr, "the gateway's /metrics is off the public port")
	assert.Equal(t, config.HTTPTimeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 60 * time.Second,
		Idle: 120 * time.Second, MaxHeaderBytes: 64 << 10}, g.HTTP)
	assert.Equal(t, 10*time.Second, g.MetricsCache)
}

func TestLoadQueues(t *testing.T) {
	c, err := config.Load(config.ChatWorker, env(map[string]string{"HOPPER_QUEUES": "chat, images=chat.image|chat.video"}))
	require.NoError(t, err)
	require.Len(t, c.Queues, 2)
	assert.Equal(t, config.QueueConfig{Name: "chat"}, c.Queues[0])
	assert.Equal(t, config.QueueConfig{Name: "images", Bindings: []string{"chat.image", "chat.video"}}, c.Queues[1])
}

func TestLoadRejectsBadValues(t *testing.T) {
	tests := []struct {
		key, value string
	}{
		{"HOPPER_ENV", "production"},
		{"HOPPER_DATABASE_URL", "mysql://x@y/z"},
		{"HOPPER_DATABASE_URL", "not a url"},
		{"HOPPER_AMQP_URL", "http://localhost"},
		{"HOPPER_AMQP_PREFIX", "a.b"},
		{"HOPPER_QUEUE_TYPE", "stream"},
		{"HOPPER_HTTP_ADDR", "8080"},
		{"HOPPER_METRICS_ADDR", "localhost"},
		{"HOPPER_QUEUES", "chat,chat"},
		{"HOPPER_QUEUES", "images="},
		{"HOPPER_QUEUES", "chat.image"},
		{"HOPPER_CONCURRENCY", "0"},
		{"HOPPER_CONCURRENCY", "many"},
		{"HOPPER_ADMIN_TOKEN", "short"},
		{"HOPPER_SHUTDOWN_GRACE", "soon"},
		{"HOPPER_LOG_LEVEL", "loud"},
		{"HOPPER_LEASE", "500ms"},
		{"HOPPER_DISPATCH_INTERVAL", "1ns"},
		{"HOPPER_RABBITMQ_MANAGEMENT_URL", "amqp://guest:guest@127.0.0.1:15672"},
		{"HOPPER_RABBITMQ_MANAGEMENT_URL", "127.0.0.1:15672"},
		{"HOPPER_SYSTEM_KINDS", "sure"},
		{"HOPPER_SSE_MAX_STREAMS_PER_KEY", "0"},
		{"HOPPER_SSE_MAX_STREAMS", "-1"},
		{"HOPPER_SSE_RECHECK", "1ms"},
		{"HOPPER_SESSION_IDLE", "10ms"},
		{"HOPPER_SESSION_MAX_AGE", "1m"}, // below the default idle (30m)
		{"HOPPER_AUTH_FAILURES_PER_MINUTE", "none"},
		{"HOPPER_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			_, err := config.Load(config.ChatWorker, env(map[string]string{tt.key: tt.value}))
			require.Error(t, err)
			msg := err.Error()
			assert.True(t, strings.HasPrefix(msg, tt.key+":"), "error names the variable: %q", msg)
			assert.NotContains(t, msg, "\n", "one line")
		})
	}
}

// TestSystemKinds: system.* are submittable in dev unless turned off,
// and outside dev only when turned on.
func TestSystemKinds(t *testing.T) {
	for _, tc := range []struct {
		env, setting string
		want         bool
	}{
		{"", "", true}, {"dev", "", true}, {"dev", "false", false},
		{"stage", "", false}, {"prod", "", false}, {"prod", "true", true},
	} {
		c, err := config.Load(config.Gateway, env(map[string]string{"HOPPER_ENV": tc.env, "HOPPER_SYSTEM_KINDS": tc.setting}))
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.SystemKinds, "HOPPER_ENV=%q HOPPER_SYSTEM_KINDS=%q", tc.env, tc.setting)
	}
}

// TestAnyServiceName: a user's own worker service loads with any DNS-label
// name; its health server takes a free loopback port and its queues come
// from its kinds unless HOPPER_QUEUES names some.
func TestAnyServiceName(t *testing.T) {
	c, err := config.Load("leaderboard", env(nil))
	require.NoError(t, err)
	assert.Equal(t, "leaderboard", c.Service)
	assert.Equal(t, "127.0.0.1:0", c.MetricsAddr)
	assert.Empty(t, c.Queues)

	c, err = config.Load("leaderboard", env(map[string]string{"HOPPER_QUEUES": "scores"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"scores"}, c.QueueNames())

	for _, bad := range []string{"", "Leaderboard", "-x", "x-", "a_b", strings.Repeat("a", 64)} {
		_, err := config.Load(bad, env(nil))
		assert.Error(t, err, "%q", bad)
	}
}

func TestSecretsMasked(t *testing.T) {
	c, err := config.Load(config.Gateway, env(map[string]string{
		"HOPPER_DATABASE_URL":            "postgres://u:s3cret@db:5432/h",
		"HOPPER_AMQP_URL":                "amqp://u:hunter2@mq:5672/prod",
		"HOPPER_ADMIN_TOKEN":             "0123456789abcdef-very-secret",
		"HOPPER_RABBITMQ_MANAGEMENT_URL": "https://ops:mgmt-pass@mq:15671",
	}))
	require.NoError(t, err)
	var all strings.Builder
	for _, f := range c.LogFields() {
		all.WriteString(f.String)
		all.WriteString(" ")
	}
	s := all.String()
	assert.NotContains(t, s, "s3cret")
	assert.NotContains(t, s, "hunter2")
	assert.NotContains(t, s, "very-secret")
	assert.Contains(t, s, "amqp://u:xxxxx@mq:5672/prod")
	assert.NotContains(t, s, "mgmt-pass")
	assert.Contains(t, s, "https://ops:xxxxx@mq:15671")
	assert.Equal(t, "https://ops:mgmt-pass@mq:15671", c.RabbitMQManagementURL)
}

// TestPlaceholderAdminTokenRefusedOutsideDev: the compose file's example
// admin token (or any "change-me" value) starts a dev stack, never a
// stage or prod one.
func TestPlaceholderAdminTokenRefusedOutsideDev(t *testing.T) {
	for _, tc := range []struct {
		env, token string
		ok         bool
	}{
		{"dev", "local-admin-token-change-me", true},
		{"stage", "local-admin-token-change-me", false},
		{"prod", "local-admin-token-change-me", false},
		{"prod", "PLEASE-CHANGEME-0123456789", false},
		{"prod", "replace-me-with-a-random-token", false},
		{"prod", "9f2c4e1a7b3d5f6e8a0c2e4f6a8b0d2e", true},
	} {
		t.Run(tc.env+"/"+tc.token, func(t *testing.T) {
			_, err := config.Load(config.Gateway, env(map[string]string{"HOPPER_ENV": tc.env, "HOPPER_ADMIN_TOKEN": tc.token}))
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "HOPPER_ADMIN_TOKEN:"), err.Error())
			assert.NotContains(t, err.Error(), tc.token, "the value is not echoed")
		})
	}
}

func TestAccessSettings(t *testing.T) {
	c, err := config.Load(config.Gateway, env(nil))
	require.NoError(t, err)
	assert.Equal(t, config.DefaultAccess(), c.Access)
	c, err = config.Load(config.Gateway, env(map[string]string{
		"HOPPER_SSE_MAX_STREAMS_PER_KEY": "3", "HOPPER_SSE_MAX_STREAMS": "50", "HOPPER_SSE_RECHECK": "5s",
		"HOPPER_SESSION_IDLE": "10m", "HOPPER_SESSION_MAX_AGE": "8h", "HOPPER_AUTH_FAILURES_PER_MINUTE": "7",
		"HOPPER_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1",
	}))
	require.NoError(t, err)
	assert.Equal(t, config.Access{StreamsPerKey: 3, Streams: 50, StreamRecheck: 5 * time.Second,
		SessionIdle: 10 * time.Minute, SessionMaxAge: 8 * time.Hour, AuthFailuresPerMinute: 7,
		TrustedProxies: []string{"10.0.0.0/8", "192.0.2.1"}}, c.Access)
}
