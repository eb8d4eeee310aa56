package providers

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chatRequest is what a chat completions server reads from the request.
type chatRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func TestChatStreams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		apiKey     string
		events     []string
		wantDeltas []string
		wantResult ChatResult
		wantErr    error // checked with errors.Is
		wantMsg    string
	}{
		{
			name:   "deltas, finish reason and usage",
			apiKey: "sk-test",
			events: []string{
				`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"fake-model-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
				chunk("Hel", ""), chunk("lo", ""), chunk(" world", ""),
				chunk("", "stop"),
				usageChunk(12, 3),
				"[DONE]",
			},
			wantDeltas: []string{"Hel", "lo", " world"},
			wantResult: ChatResult{Text: "Hello world", Model: "fake-model-1", FinishReason: "stop",
				Usage: &Usage{PromptTokens: 12, CompletionTokens: 3}},
		},
		{
			name:       "no usage reported, no API key",
			events:     []string{chunk("Hi", ""), chunk("", "length"), "[DONE]"},
			wantDeltas: []string{"Hi"},
			wantResult: ChatResult{Text: "Hi", Model: "fake-model-1", FinishReason: "length"},
		},
		{
			name:       "stream cut before finish_reason",
			events:     []string{chunk("Hal", "")},
			wantDeltas: []string{"Hal"},
			wantErr:    ErrIncompleteStream,
		},
		{
			name:       "error event mid-stream",
			events:     []string{chunk("Hal", ""), `{"error":{"message":"model overloaded","type":"server_error"}}`},
			wantDeltas: []string{"Hal"},
			wantMsg:    "model overloaded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got chatRequest
			var gotAuth string
			f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, "/v1/chat/completions", r.URL.Path)
				gotAuth = r.Header.Get("Authorization")
				assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				s := newSSE(t, w)
				for _, e := range tt.events {
					s.data(e)
				}
			})
			c, err := NewChatClient(Config{URL: f.srv.URL + "/v1", APIKey: tt.apiKey + "\n", Model: "fake-model"})
			require.NoError(t, err)

			var deltas []string
			res, err := c.Chat(testCtx(t), []Message{
				{Role: RoleSystem, Content: "Be brief."},
				{Role: RoleUser, Content: "Say hello"},
				{Role: RoleAssistant, Content: "Hello?"},
				{Role: RoleUser, Content: "Again"},
			}, func(d string) error {
				deltas = append(deltas, d)
				return nil
			})

			assert.Equal(t, tt.wantDeltas, deltas)
			switch {
			case tt.wantErr != nil || tt.wantMsg != "":
				require.Error(t, err)
				if tt.wantErr != nil {
					assert.ErrorIs(t, err, tt.wantErr)
				}
				assert.Contains(t, err.Error(), tt.wantMsg)
				assert.False(t, IsPermanent(err), "a broken stream is worth a retry")
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.wantResult, res)
			}

			// The request is a real streaming chat completion.
			assert.Equal(t, "fake-model", got.Model)
			assert.True(t, got.Stream)
			assert.True(t, got.StreamOptions.IncludeUsage)
			require.Len(t, got.Messages, 4)
			assert.Equal(t, "system", got.Messages[0].Role)
			assert.Equal(t, "Be brief.", got.Messages[0].Content)
			assert.Equal(t, "assistant", got.Messages[2].Role)
			assert.Equal(t, "Again", got.Messages[3].Content)
			if tt.apiKey != "" {
				assert.Equal(t, "Bearer "+tt.apiKey, gotAuth)
			} else {
				assert.Empty(t, gotAuth)
			}
			assert.Len(t, f.attempts(), 1)
		})
	}
}

// TestChatDeltasArriveWhileStreaming proves onDelta sees a piece before the
// server has sent the rest: the server waits for the client to have seen
// the first delta before it finishes.
func TestChatDeltasArriveWhileStreaming(t *testing.T) {
	t.Parallel()
	firstSeen := make(chan struct{})
	f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, r *http.Request) {
		s := newSSE(t, w)
		s.data(chunk("partial", ""))
		select {
		case <-firstSeen:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second): // a bug, not a wait
			t.Error("the client did not see the first delta while the stream was open")
			return
		}
		s.data(chunk(" answer", "stop"))
		s.data("[DONE]")
	})
	c, err := NewChatClient(Config{URL: f.srv.URL + "/v1", Model: "m"})
	require.NoError(t, err)

	n := 0
	res, err := c.Chat(testCtx(t), []Message{{Role: RoleUser, Content: "hi"}}, func(d string) error {
		n++
		if n == 1 {
			assert.Equal(t, "partial", d)
			close(firstSeen)
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, "partial answer", res.Text)
	assert.Equal(t, 2, n)
}

func TestChatDeltaCallbackErrorStops(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, _ *http.Request) {
		s := newSSE(t, w)
		s.data(chunk("a", ""))
		s.data(chunk("b", ""))
		s.data(chunk("", "stop"))
		s.data("[DONE]")
	})
	c, err := NewChatClient(Config{URL: f.srv.URL + "/v1", Model: "m"})
	require.NoError(t, err)

	errStop := errors.New("job cancelled")
	calls := 0
	_, err = c.Chat(testCtx(t), []Message{{Role: RoleUser, Content: "hi"}}, func(string) error {
		calls++
		return errStop
	})
	require.ErrorIs(t, err, errStop)
	assert.Equal(t, 1, calls)
}

func TestChatInvalidInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		messages []Message
	}{
		{"no messages", nil},
		{"unknown role", []Message{{Role: "tool", Content: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, 0, nil, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusTeapot)
			})
			c, err := NewChatClient(Config{URL: f.srv.URL, Model: "m"})
			require.NoError(t, err)
			_, err = c.Chat(testCtx(t), tt.messages, nil)
			require.ErrorIs(t, err, ErrInvalidInput)
			assert.True(t, IsPermanent(err))
			assert.Empty(t, f.attempts(), "nothing is sent")
		})
	}
}

// TestChatErrorNamesProviderMessage: the provider's own explanation (an
// unknown model, a bad key) reaches the error a job fails with.
func TestChatErrorNamesProviderMessage(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, -1, openAIError(http.StatusNotFound, "The model `nope` does not exist"), nil)
	c, err := NewChatClient(Config{URL: f.srv.URL + "/v1", Model: "nope", APIKey: "sk-secret"})
	require.NoError(t, err)
	_, err = c.Chat(testCtx(t), []Message{{Role: RoleUser, Content: "hi"}}, nil)
	require.Error(t, err)
	assert.True(t, IsPermanent(err))
	assert.Contains(t, err.Error(), "404")
	assert.Contains(t, err.Error(), "The model `nope` does not exist")
	assert.NotContains(t, err.Error(), "sk-secret")
}
