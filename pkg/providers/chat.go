package providers

import (
	"context"
	"fmt"
	"strings"

	"github.com/openai/openai-go/v3"
)

// The roles a chat Message can have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one turn of a chat conversation.
type Message struct {
	Role    string // RoleSystem, RoleUser or RoleAssistant
	Content string
}

// Usage is the token count a server reported for a call.
type Usage struct {
	PromptTokens     int64
	CompletionTokens int64
}

// ChatResult is a finished chat completion.
type ChatResult struct {
	Text         string // the whole answer: every delta, in order
	Model        string // the model that answered, as the server names it
	FinishReason string // "stop", "length", "content_filter", …
	Usage        *Usage // nil when the server did not report usage
}

// ChatClient streams chat completions from an OpenAI-compatible API
// (POST {URL}/chat/completions with stream: true).
type ChatClient struct {
	api     openai.ChatCompletionService
	e       endpoint
	onUsage func(context.Context, Usage)
}

// NewChatClient builds a chat client. An empty URL or model is
// ErrNotConfigured naming HOPPER_LLM_URL or HOPPER_LLM_MODEL.
func NewChatClient(cfg Config) (*ChatClient, error) {
	e, err := newEndpoint(settings{url: SettingLLMURL, model: SettingLLMModel, timeout: DefaultChatTimeout}, cfg)
	if err != nil {
		return nil, err
	}
	return &ChatClient{api: openai.NewChatCompletionService(e.openAIOptions()...), e: e, onUsage: cfg.OnUsage}, nil
}

// Chat sends messages and streams the answer, calling onDelta (when not
// nil) with each piece of text as it arrives, so a worker can expose the
// partial answer. An error from onDelta stops the stream and is returned
// wrapped. The server's usage is requested (stream_options.include_usage)
// and reported when the server sends it.
//
// Only the request is retried (429, 5xx, network errors before the answer
// starts); a stream that fails midway returns an error, and a retry of
// the whole call starts the answer again from the beginning. A stream that
// ends without a finish_reason is ErrIncompleteStream.
func (c *ChatClient) Chat(ctx context.Context, messages []Message, onDelta func(delta string) error) (ChatResult, error) {
	params, err := c.params(messages)
	if err != nil {
		return ChatResult{}, fmt.Errorf("chat completion: %w", err)
	}
	stream := c.api.NewStreaming(ctx, params)
	defer func() { _ = stream.Close() }()

	var (
		res  ChatResult
		text strings.Builder
	)
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Model != "" {
			res.Model = chunk.Model
		}
		if chunk.JSON.Usage.Valid() {
			res.Usage = &Usage{
				PromptTokens:     chunk.Usage.PromptTokens,
				CompletionTokens: chunk.Usage.CompletionTokens,
			}
		}
		for _, choice := range chunk.Choices {
			if choice.Index != 0 {
				continue
			}
			if d := choice.Delta.Content; d != "" {
				text.WriteString(d)
				if onDelta != nil {
					if err := onDelta(d); err != nil {
						return ChatResult{}, fmt.Errorf("chat completion: delta callback: %w", err)
					}
				}
			}
			if choice.FinishReason != "" {
				res.FinishReason = choice.FinishReason
			}
		}
	}
	if err := stream.Err(); err != nil {
		return ChatResult{}, wrapAPIError(ctx, "chat completion", c.e.timeout, err)
	}
	if res.FinishReason == "" {
		return ChatResult{}, fmt.Errorf("chat completion: %w (%d bytes received)", ErrIncompleteStream, text.Len())
	}
	res.Text = text.String()
	if res.Usage != nil && c.onUsage != nil {
		c.onUsage(ctx, *res.Usage)
	}
	return res, nil
}

// params turns messages into a streaming request.
func (c *ChatClient) params(messages []Message) (openai.ChatCompletionNewParams, error) {
	if len(messages) == 0 {
		return openai.ChatCompletionNewParams{}, fmt.Errorf("no messages: %w", ErrInvalidInput)
	}
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(messages))
	for i, m := range messages {
		switch m.Role {
		case RoleSystem:
			msgs = append(msgs, openai.SystemMessage(m.Content))
		case RoleUser:
			msgs = append(msgs, openai.UserMessage(m.Content))
		case RoleAssistant:
			msgs = append(msgs, openai.AssistantMessage(m.Content))
		default:
			return openai.ChatCompletionNewParams{}, fmt.Errorf("message %d: unknown role %q (want %s, %s or %s): %w",
				i, m.Role, RoleSystem, RoleUser, RoleAssistant, ErrInvalidInput)
		}
	}
	return openai.ChatCompletionNewParams{
		Model:    c.e.model,
		Messages: msgs,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{
			IncludeUsage: openai.Bool(true),
		},
	}, nil
}
