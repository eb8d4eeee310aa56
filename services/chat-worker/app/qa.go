package app

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/store/content"
)

// answerer runs qa.ask: retrieve the owner's best-matching chunks and
// answer with citations.
type answerer struct {
	llm  *providers.ChatClient // nil: answer extractively
	docs retriever             // hybrid with embeddings configured, else full text
}

// Citation points at the chunk a part of the answer comes from.
type Citation struct {
	Ref        int     `json:"ref"` // the [n] used in the answer
	DocumentID string  `json:"document_id"`
	Filename   string  `json:"filename"`
	Chunk      int     `json:"chunk"`
	Score      float64 `json:"score"`
	Text       string  `json:"text"`
}

// Answer is qa.ask's result.
type Answer struct {
	Question  string     `json:"question"`
	Answer    string     `json:"answer"`
	Mode      string     `json:"mode"` // "llm", or "extractive" without an LLM
	Note      string     `json:"note,omitempty"`
	Model     string     `json:"model,omitempty"`
	Retrieval string     `json:"retrieval"` // "hybrid" with embeddings configured, else "fulltext"
	Citations []Citation `json:"citations"`
}

// extractiveNote says how the answer was made, naming the setting that
// would change it.
const extractiveNote = "no LLM is configured (set HOPPER_LLM_URL): the answer quotes the passages of your documents that best match the question"

func (a *answerer) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.QAPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	topK := p.TopK
	if topK == 0 {
		topK = product.DefaultTopK
	}
	_ = job.Progress(ctx, 20, "searching your documents")
	hits, retrieval, err := a.docs.search(ctx, job, p.Question, topK)
	if err != nil {
		return nil, err
	}
	_ = job.Progress(ctx, 30, fmt.Sprintf("%d passages found", len(hits)))
	if a.llm == nil {
		ans := extractiveAnswer(p.Question, hits)
		ans.Retrieval = retrieval
		return ans, nil
	}
	out, err := llmTurn{Question: p.Question, Hits: hits}.run(ctx, a.llm, job)
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []content.ChunkHit{}
	}
	return Answer{Question: p.Question, Answer: out.Text, Mode: "llm", Model: out.Model, Retrieval: retrieval, Citations: citations(hits)}, nil
}

// extractiveAnswer answers with the sentences of the retrieved passages
// that share the most words with the question, each cited.
func extractiveAnswer(question string, hits []content.ChunkHit) Answer {
	ans := Answer{Question: question, Mode: "extractive", Note: extractiveNote, Citations: []Citation{}}
	if len(hits) == 0 {
		ans.Answer = "None of your documents contains a passage matching the question."
		return ans
	}
	ans.Citations = citations(hits)
	words := contentWords(question)
	type candidate struct {
		text  string
		ref   int
		score int
	}
	var cands []candidate
	for i, h := range hits {
		for _, s := range sentences(h.Content) {
			if n := overlap(words, contentWords(s)); n > 0 {
				cands = append(cands, candidate{text: s, ref: i + 1, score: n})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].score > cands[j].score })
	var parts []string
	seen := map[string]bool{}
	for _, c := range cands {
		if len(parts) == 3 {
			break
		}
		if seen[c.text] {
			continue
		}
		seen[c.text] = true
		parts = append(parts, fmt.Sprintf("%s [%d]", c.text, c.ref))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%s [1]", strings.TrimSpace(hits[0].Content)))
	}
	ans.Answer = strings.Join(parts, " ")
	return ans
}

// sentences splits a passage at sentence ends and line breaks.
func sentences(text string) []string {
	var out []string
	start := 0
	runes := []rune(text)
	for i, r := range runes {
		end := r == '\n' || ((r == '.' || r == '!' || r == '?') && (i+1 == len(runes) || unicode.IsSpace(runes[i+1])))
		if end {
			if s := strings.TrimSpace(string(runes[start : i+1])); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(string(runes[start:])); s != "" {
		out = append(out, s)
	}
	return out
}

// stopWords are left out of the overlap count.
var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "are": true, "was": true, "were": true, "what": true,
	"which": true, "who": true, "whom": true, "how": true, "why": true, "when": true, "where": true,
	"does": true, "did": true, "has": true, "have": true, "had": true, "this": true, "that": true,
	"with": true, "from": true, "into": true, "its": true, "our": true, "your": true, "their": true,
	"is": true, "of": true, "to": true, "in": true, "on": true, "a": true, "an": true, "it": true,
}

// contentWords lowercases text into its words, stop words removed, with a
// crude plural fold so "doors" meets "door".
func contentWords(text string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len(w) < 2 || stopWords[w] {
			continue
		}
		out[strings.TrimSuffix(w, "s")] = true
	}
	return out
}

func overlap(a, b map[string]bool) int {
	n := 0
	for w := range a {
		if b[w] {
			n++
		}
	}
	return n
}
