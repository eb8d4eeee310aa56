package product_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/product"
)

func TestProviders(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HOPPER_LLM_URL":          "http://127.0.0.1:11434/v1",
		"HOPPER_LLM_API_KEY":      "sk-test",
		"HOPPER_EMBEDDINGS_URL":   "https://api.openai.com/v1",
		"HOPPER_EMBEDDINGS_MODEL": "nomic-embed-text",
		"HOPPER_SMTP_HOST":        "smtp.example.com",
		"HOPPER_SMTP_PORT":        "2525",
		"HOPPER_SMTP_TLS":         "tls",
	}
	c, err := product.LoadSettings(func(k string) string { return env[k] })
	require.NoError(t, err)
	assert.Equal(t, product.Endpoint{URL: "http://127.0.0.1:11434/v1", APIKey: "sk-test", Model: "gpt-4o-mini"}, c.Providers.LLM)
	assert.Equal(t, "nomic-embed-text", c.Providers.Embeddings.Model)
	assert.Equal(t, product.Endpoint{}, c.Providers.Images, "unset provider: no model default either")
	assert.Equal(t, 2525, c.Providers.SMTP.Port)
	assert.Equal(t, "tls", c.Providers.SMTP.TLS)
	assert.Equal(t, product.DefaultNotifyMailsPerHour, c.NotifyMailsPerHour)

	for key, bad := range map[string]string{
		"HOPPER_LLM_URL":               "not a url",
		"HOPPER_SMTP_PORT":             "70000",
		"HOPPER_SMTP_TLS":              "ssl3",
		"HOPPER_SEARXNG_URL":           "ftp://x",
		"HOPPER_NOTIFY_MAILS_PER_HOUR": "-1",
	} {
		_, err := product.LoadSettings(func(k string) string {
			if k == key {
				return bad
			}
			return ""
		})
		require.Error(t, err, key)
		assert.Contains(t, err.Error(), key)
	}
}

func TestProviderRateLimits(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"HOPPER_LLM_URL":        "http://127.0.0.1:11434/v1",
		"HOPPER_LLM_RPM":        "60",
		"HOPPER_LLM_TPM":        "90000",
		"HOPPER_IMAGES_RPM":     "5",
		"HOPPER_STT_RPM":        "50",
		"HOPPER_EMBEDDINGS_RPM": "3000",
		"HOPPER_EMBEDDINGS_TPM": "1000000",
		"HOPPER_SEARXNG_RPM":    "30",
	}
	c, err := product.LoadSettings(func(k string) string { return env[k] })
	require.NoError(t, err)
	p := c.Providers
	assert.Equal(t, []int{60, 90000, 5, 50, 3000, 1000000, 30},
		[]int{p.LLM.RPM, p.LLM.TPM, p.Images.RPM, p.STT.RPM, p.Embeddings.RPM, p.Embeddings.TPM, p.SearxNGRPM})
	assert.Contains(t, fmt.Sprint(c.LogFields()), "llm_rpm")

	c, err = product.LoadSettings(func(string) string { return "" })
	require.NoError(t, err)
	assert.Zero(t, c.Providers.LLM.RPM, "unlimited by default")
	assert.Zero(t, c.Providers.SearxNGRPM)

	for _, key := range []string{"HOPPER_LLM_RPM", "HOPPER_LLM_TPM", "HOPPER_IMAGES_RPM", "HOPPER_STT_RPM",
		"HOPPER_EMBEDDINGS_RPM", "HOPPER_EMBEDDINGS_TPM", "HOPPER_SEARXNG_RPM"} {
		for _, bad := range []string{"-1", "ten", "1.5"} {
			_, err := product.LoadSettings(func(k string) string {
				if k == key {
					return bad
				}
				return ""
			})
			require.Error(t, err, key+"="+bad)
			assert.Contains(t, err.Error(), key)
		}
	}
}

func TestSettingsSecretsMasked(t *testing.T) {
	s, err := product.LoadSettings(func(k string) string {
		return map[string]string{"HOPPER_LLM_URL": "https://u:llm-pass@llm.example/v1",
			"HOPPER_SMTP_PASSWORD": "smtp-pass"}[k]
	})
	require.NoError(t, err)
	out := fmt.Sprint(s.LogFields())
	for _, secret := range []string{"llm-pass", "smtp-pass"} {
		assert.False(t, strings.Contains(out, secret), secret)
	}
}
