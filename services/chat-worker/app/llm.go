package app

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/store/content"
)

// partialRunes is how much of a streamed answer the job's status message
// shows while it runs (the tail, so a client sees it grow).
const partialRunes = 4000

// groundingPrompt tells the model to answer from the numbered passages.
const groundingPrompt = `Answer the user's question using only the numbered passages from their documents below.
Cite the passages you use as [n]. If the passages do not contain the answer, say that you could not find it in the documents.`

// llmTurn is one LLM completion for a job: the conversation, optionally
// grounded on retrieved passages, streamed into the job's status message.
type llmTurn struct {
	System   string
	History  []product.ChatTurn
	Question string
	Hits     []content.ChunkHit // nil: not grounded
}

// LLMAnswer is what an LLM turn produced.
type LLMAnswer struct {
	Text   string
	Model  string
	Usage  *providers.Usage
	Finish string
}

// run streams the completion: each delta is appended to the job's output
// and updates its status message with the answer so far (progress writes
// are throttled by the runtime).
func (t llmTurn) run(ctx context.Context, llm *providers.ChatClient, job *hopper.RawJob) (LLMAnswer, error) {
	var msgs []providers.Message
	system := t.System
	if t.Hits != nil {
		system = strings.TrimSpace(system + "\n\n" + groundingPrompt + "\n\n" + passages(t.Hits))
	}
	if system != "" {
		msgs = append(msgs, providers.Message{Role: providers.RoleSystem, Content: system})
	}
	for _, h := range t.History {
		msgs = append(msgs, providers.Message{Role: h.Role, Content: h.Content})
	}
	msgs = append(msgs, providers.Message{Role: providers.RoleUser, Content: t.Question})

	var partial strings.Builder
	started := time.Now()
	outputFull := false
	res, err := llm.Chat(ctx, msgs, func(delta string) error {
		partial.WriteString(delta)
		// Every token to the job's output stream (clients follow it at
		// GET /v1/jobs/{id}/output); the status message keeps the tail.
		if !outputFull {
			if err := job.Output(ctx, delta); err != nil {
				outputFull = true // the result still carries the whole answer
				job.Logger().Warn("answer no longer streamed", zap.Error(err))
			}
		}
		_ = job.Progress(ctx, streamProgress(started), tail(partial.String(), partialRunes))
		return nil
	})
	if err != nil {
		if providers.IsPermanent(err) {
			return LLMAnswer{}, hopper.Permanent(err)
		}
		return LLMAnswer{}, err
	}
	return LLMAnswer{Text: res.Text, Model: res.Model, Usage: res.Usage, Finish: res.FinishReason}, nil
}

// passages numbers the retrieved chunks for the prompt.
func passages(hits []content.ChunkHit) string {
	if len(hits) == 0 {
		return "(no passages matched)"
	}
	var b strings.Builder
	for i, h := range hits {
		fmt.Fprintf(&b, "[%d] %s, part %d:\n%s\n\n", i+1, h.Filename, h.Index, strings.TrimSpace(h.Content))
	}
	return strings.TrimSpace(b.String())
}

// citations lists every retrieved chunk as [n].
func citations(hits []content.ChunkHit) []Citation {
	out := make([]Citation, 0, len(hits))
	for i, h := range hits {
		out = append(out, Citation{Ref: i + 1, DocumentID: h.DocumentID.String(), Filename: h.Filename,
			Chunk: h.Index, Score: h.Score, Text: h.Content})
	}
	return out
}

// streamProgress creeps from 30 towards 95 while tokens arrive: the
// length of an answer is unknown, so progress shows liveness, not a ratio.
func streamProgress(started time.Time) int {
	s := int(time.Since(started) / (500 * time.Millisecond))
	return min(30+s, 95)
}

// tail keeps the last n runes of s.
func tail(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return "…" + string(r[len(r)-n:])
}
