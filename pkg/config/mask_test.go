package config_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/config"
)

// TestMaskURL: passwords in user information and the values of
// secret-looking parameters are masked in every URL form; the rest stays
// as written. Every secret in the table is spelled with "s3cret".
func TestMaskURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"https://searx.example.com/search?q=hopper&format=json", "https://searx.example.com/search?q=hopper&format=json"},
		{"postgres://u:s3cret@db:5432/h?sslmode=disable", "postgres://u:xxxxx@db:5432/h?sslmode=disable"},
		{"amqp://u:p%40s3cret@mq:5672/vh?heartbeat=10&auth_mechanism=plain", "amqp://u:xxxxx@mq:5672/vh?heartbeat=10&auth_mechanism=plain"},
		{"amqp://guest:@mq/", "amqp://guest:xxxxx@mq/"},
		{"postgres://u@db/h?password=s3cret&sslmode=require", "postgres://u@db/h?password=xxxxx&sslmode=require"},
		{"postgres://db/h?sslmode=verify-full&sslpassword=s3cret&sslkey=/etc/s3cret.key", "postgres://db/h?sslmode=verify-full&sslpassword=xxxxx&sslkey=xxxxx"},
		{"postgres://u:s3cret@db/h?password=s3cret", "postgres://u:xxxxx@db/h?password=xxxxx"},
		{"https://api.example.com/v1?api_key=s3cret&model=gpt", "https://api.example.com/v1?api_key=xxxxx&model=gpt"},
		{"https://api.example.com/v1?API_KEY=s3cret", "https://api.example.com/v1?API_KEY=xxxxx"},
		{"https://api.example.com/v1?apiKey=s3cret", "https://api.example.com/v1?apiKey=xxxxx"},
		{"https://x.example/?token=s3cret", "https://x.example/?token=xxxxx"},
		{"https://x.example/?access_token=s3cret&token=s3cret2", "https://x.example/?access_token=xxxxx&token=xxxxx"},
		{"https://x.example/?client_secret=s3cret", "https://x.example/?client_secret=xxxxx"},
		{"https://x.example/?passwd=s3cret&pwd=s3cret", "https://x.example/?passwd=xxxxx&pwd=xxxxx"},
		{"https://s3.example/b/o?X-Amz-Credential=AKIAs3cret&X-Amz-Signature=s3cret&X-Amz-Expires=60", "https://s3.example/b/o?X-Amz-Credential=xxxxx&X-Amz-Signature=xxxxx&X-Amz-Expires=60"},
		{"https://blob.example/c?sv=2022&sig=s3cret", "https://blob.example/c?sv=2022&sig=xxxxx"},
		{"https://x.example/?pass%77ord=s3cret", "https://x.example/?pass%77ord=xxxxx"},
		{"https://x.example/?a=1;token=s3cret", "https://x.example/?a=1;token=xxxxx"},
		{"https://x.example/?token=s3cret&&x=1&", "https://x.example/?token=xxxxx&&x=1&"},
		{"https://x.example/?token", "https://x.example/?token"},
		{"https://x.example/?", "https://x.example/?"},
		{"https://app.example/cb#access_token=s3cret&state=1", "https://app.example/cb#access_token=xxxxx&state=1"},
		{"mailto:ops@example.com?token=s3cret", "mailto:ops@example.com?token=xxxxx"},
		{"//db.example/h?password=s3cret", "//db.example/h?password=xxxxx"},
		{"host=db user=u password=s3cret dbname=h", "host=db user=u password=xxxxx dbname=h"},
		{"host=db password = 'with \\' s3cret' sslmode=disable", "host=db password = xxxxx sslmode=disable"},
		{"host=db sslpassword=s3cret", "host=db sslpassword=xxxxx"},
		{"postgres://u:s3cret@db:port/h", "(unparseable URL)"},
		{"http://[::1%s3cret/", "(unparseable URL)"},
	}
	for _, tc := range tests {
		got := config.MaskURL(tc.in)
		assert.Equal(t, tc.want, got, "MaskURL(%q)", tc.in)
		assert.NotContains(t, got, "s3cret", "MaskURL(%q)", tc.in)
	}
}

// TestLogFieldsMaskQuerySecrets: the start-up log line shows no secret
// passed in a query parameter.
func TestLogFieldsMaskQuerySecrets(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.ChatWorker, env(map[string]string{
		"HOPPER_DATABASE_URL":   "postgres://u@db:5432/h?password=db-s3cret&sslmode=require",
		"HOPPER_AMQP_URL":       "amqps://mq:5671/?auth_token=mq-s3cret",
		"HOPPER_LLM_URL":        "https://llm.example/v1?api-key=llm-s3cret",
		"HOPPER_EMBEDDINGS_URL": "https://emb.example/v1?key=emb-s3cret",
		"HOPPER_SEARXNG_URL":    "https://searx.example/?token=sx-s3cret",
	}))
	require.NoError(t, err)
	var all strings.Builder
	for _, f := range c.LogFields() {
		all.WriteString(f.String + " ")
	}
	assert.NotContains(t, all.String(), "s3cret")
	assert.Contains(t, all.String(), "postgres://u@db:5432/h?password=xxxxx&sslmode=require")
}

// TestPprofAddrLoopback: HOPPER_PPROF_ADDR must be loopback unless
// HOPPER_PPROF_FORCE=true; anything else fails Load with one line naming
// the variable and the way out.
func TestPprofAddrLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr, force string
		ok          bool
	}{
		{addr: "", ok: true},
		{addr: "127.0.0.1:6060", ok: true},
		{addr: "127.0.0.2:6060", ok: true},
		{addr: "[::1]:6060", ok: true},
		{addr: "[::ffff:127.0.0.1]:6060", ok: true},
		{addr: "localhost:6060", ok: true},
		{addr: "LocalHost:0", ok: true},
		{addr: ":6060"},
		{addr: "0.0.0.0:6060"},
		{addr: "[::]:6060"},
		{addr: "10.0.0.5:6060"},
		{addr: "192.168.1.2:6060"},
		{addr: "[fe80::1]:6060"},
		{addr: "pprof.internal:6060"},
		{addr: "localhost.evil.example:6060"},
		{addr: "0.0.0.0:6060", force: "false"},
		{addr: "0.0.0.0:6060", force: "true", ok: true},
		{addr: ":6060", force: "true", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.addr+" force="+tc.force, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(config.Gateway, env(map[string]string{"HOPPER_PPROF_ADDR": tc.addr, "HOPPER_PPROF_FORCE": tc.force}))
			if tc.ok {
				require.NoError(t, err)
				assert.Equal(t, tc.addr, c.PprofAddr)
				return
			}
			require.Error(t, err)
			assert.Equal(t, `HOPPER_PPROF_ADDR: "`+tc.addr+`" is not a loopback address (/debug/pprof exposes memory and command lines): use 127.0.0.1:PORT or [::1]:PORT, or set HOPPER_PPROF_FORCE=true to serve it there anyway`, err.Error())
		})
	}
	_, err := config.Load(config.Gateway, env(map[string]string{"HOPPER_PPROF_ADDR": "0.0.0.0:6060", "HOPPER_PPROF_FORCE": "yes please"}))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "HOPPER_PPROF_FORCE:"), err.Error())
}
