package jobs_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
)

func TestMediaPayloads(t *testing.T) {
	t.Parallel()
	reg, err := jobs.DefaultRegistry()
	require.NoError(t, err)
	for _, kind := range []string{jobs.KindChatImage, jobs.KindChatTranscribe} {
		k, ok := reg.Lookup(kind)
		require.True(t, ok, kind)
		assert.Equal(t, "chat", k.Queue)
		assert.Equal(t, jobs.PriorityHigh, k.DefaultPriority)
	}
	cases := []struct {
		kind, payload, wantField string
	}{
		{jobs.KindChatImage, `{"prompt":"a red fox"}`, ""},
		{jobs.KindChatImage, `{"prompt":"a red fox","size":"1024x1024"}`, ""},
		{jobs.KindChatImage, `{"prompt":"a red fox","size":"auto"}`, ""},
		{jobs.KindChatImage, `{"prompt":"  "}`, "payload.prompt"},
		{jobs.KindChatImage, `{"prompt":"` + strings.Repeat("é", jobs.MaxImagePromptRunes+1) + `"}`, "payload.prompt"},
		{jobs.KindChatImage, `{"prompt":"x","size":"big"}`, "payload.size"},
		{jobs.KindChatImage, `{"prompt":"x","size":"10x10"}`, "payload.size"},
		{jobs.KindChatImage, `{"prompt":"x","size":"1024x99999"}`, "payload.size"},
		{jobs.KindChatImage, `{"prompt":"x","n":2}`, "payload"},
		{jobs.KindChatTranscribe, `{"artifact":"input.wav","language":"en"}`, ""},
		{jobs.KindChatTranscribe, `{"artifact":"image.png"}`, "payload.artifact"},
		{jobs.KindChatTranscribe, `{}`, "payload.artifact"},
		{jobs.KindChatTranscribe, `{"artifact":"input.mp3","language":"English"}`, "payload.language"},
	}
	for _, c := range cases {
		_, err := reg.Validate(jobs.SubmitRequest{Kind: c.kind, Payload: json.RawMessage(c.payload)})
		if c.wantField == "" {
			assert.NoError(t, err, c.payload)
			continue
		}
		var ve *jobs.ValidationError
		if assert.True(t, errors.As(err, &ve), "%s: %v", c.payload, err) {
			assert.Equal(t, c.wantField, ve.Field, c.payload)
		}
	}
	assert.NoError(t, jobs.CheckLanguage(""))
	assert.Error(t, jobs.CheckLanguage("EN"))
}
