package providers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/assert"
)

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not configured", ErrNotConfigured{Setting: SettingLLMURL}, true},
		{"not configured, wrapped", fmt.Errorf("chat: %w", ErrNotConfigured{Setting: SettingLLMURL}), true},
		{"not configured, pointer", &ErrNotConfigured{Setting: SettingSTTURL}, true},
		{"invalid input", fmt.Errorf("x: %w", ErrInvalidInput), true},
		{"openai 400", &openai.Error{StatusCode: 400}, true},
		{"openai 401, wrapped", fmt.Errorf("chat: %w", &openai.Error{StatusCode: 401}), true},
		{"openai 404", &openai.Error{StatusCode: 404}, true},
		{"openai 408", &openai.Error{StatusCode: 408}, false},
		{"openai 429", &openai.Error{StatusCode: 429}, false},
		{"openai 500", &openai.Error{StatusCode: 500}, false},
		{"openai 503", &openai.Error{StatusCode: 503}, false},
		{"searxng 403", &StatusError{Provider: "searxng", StatusCode: 403}, true},
		{"searxng 429", &StatusError{Provider: "searxng", StatusCode: 429}, false},
		{"searxng 502", &StatusError{Provider: "searxng", StatusCode: 502}, false},
		{"timeout", fmt.Errorf("chat: %w", context.DeadlineExceeded), false},
		{"cancelled", context.Canceled, false},
		{"network", &url.Error{Op: "Post", URL: "http://x", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, false},
		{"incomplete stream", ErrIncompleteStream, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, IsPermanent(tt.err))
		})
	}
}

const httpTimeFormat = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestBackoffStaysUnderTheCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		policy  retryPolicy
		attempt int
		ceiling time.Duration
	}{
		{"first retry, defaults", retryPolicy{maxAttempts: 3}, 1, retryBaseDelay},
		{"third retry, defaults", retryPolicy{maxAttempts: 3}, 3, 4 * retryBaseDelay},
		{"late retry, defaults cap", retryPolicy{maxAttempts: 3}, 30, defaultMaxBackoff},
		{"small max delay", retryPolicy{maxAttempts: 3, maxDelay: 10 * time.Millisecond}, 1, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 200 {
				d := tt.policy.backoff(tt.attempt)
				assert.GreaterOrEqual(t, d, time.Duration(0))
				assert.Less(t, d, tt.ceiling)
			}
		})
	}
}

func TestStatusErrorMessage(t *testing.T) {
	t.Parallel()
	err := &StatusError{Provider: "searxng", StatusCode: 403, Body: "Forbidden", Hint: "enable json"}
	assert.Equal(t, `searxng: status 403 Forbidden: "Forbidden" (enable json)`, err.Error())
	assert.Equal(t, "abc…", truncate("abcdef", 3))
	assert.Equal(t, "é…", truncate("éé", 3), "never cuts a rune")
}
