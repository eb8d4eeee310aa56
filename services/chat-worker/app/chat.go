package app

import (
	"context"
	"fmt"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/store/content"
)

// chatter runs chat.message: an LLM answer, grounded on the owner's
// documents unless the payload says otherwise, streamed into the job's
// status message; without an LLM, an extractive answer from the documents.
type chatter struct {
	docs retriever
	llm  *providers.ChatClient // nil: extractive
}

// ChatAnswer is chat.message's result.
type ChatAnswer struct {
	Answer    string           `json:"answer"`
	Mode      string           `json:"mode"` // "llm" or "extractive"
	Note      string           `json:"note,omitempty"`
	Model     string           `json:"model,omitempty"`
	Usage     *providers.Usage `json:"usage,omitempty"`
	Finish    string           `json:"finish_reason,omitempty"`
	Retrieval string           `json:"retrieval,omitempty"` // hybrid or fulltext; empty when not grounded
	Citations []Citation       `json:"citations"`
}

func (c *chatter) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.ChatPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	topK := p.TopK
	if topK == 0 {
		topK = product.DefaultTopK
	}
	var hits []content.ChunkHit
	var how string
	if p.Grounded() || c.llm == nil {
		_ = job.Progress(ctx, 10, "searching your documents")
		var err error
		hits, how, err = c.docs.search(ctx, job, p.Message, topK)
		if err != nil {
			return nil, fmt.Errorf("retrieve: %w", err)
		}
		if hits == nil {
			hits = []content.ChunkHit{}
		}
	}
	if c.llm == nil {
		ex := extractiveAnswer(p.Message, hits)
		return ChatAnswer{Answer: ex.Answer, Mode: ex.Mode, Note: ex.Note, Retrieval: how, Citations: ex.Citations}, nil
	}
	_ = job.Progress(ctx, 30, "asking the model")
	turn := llmTurn{System: p.System, History: p.History, Question: p.Message}
	if p.Grounded() {
		turn.Hits = hits
	}
	out, err := turn.run(ctx, c.llm, job)
	if err != nil {
		return nil, err
	}
	res := ChatAnswer{Answer: out.Text, Mode: "llm", Model: out.Model, Usage: out.Usage, Finish: out.Finish,
		Citations: citations(turn.Hits)}
	if turn.Hits != nil {
		res.Retrieval = how
	}
	return res, nil
}

// searcher runs chat.search against SearxNG.
type searcher struct {
	client *providers.SearchClient
}

// SearchAnswer is chat.search's result.
type SearchAnswer struct {
	Query   string         `json:"query"`
	Results []SearchResult `json:"results"`
}

// SearchResult is one web result.
type SearchResult struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
}

func (s *searcher) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.SearchPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	limit := p.Limit
	if limit == 0 {
		limit = product.DefaultSearchHits
	}
	_ = job.Progress(ctx, 20, "searching the web")
	found, err := s.client.Search(ctx, p.Query, limit)
	if err != nil {
		if providers.IsPermanent(err) {
			return nil, hopper.Permanent(err)
		}
		return nil, err
	}
	out := SearchAnswer{Query: p.Query, Results: make([]SearchResult, 0, len(found))}
	for _, r := range found {
		out.Results = append(out.Results, SearchResult{Title: r.Title, URL: r.URL, Snippet: r.Snippet})
	}
	return out, nil
}
