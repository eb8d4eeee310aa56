package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// embedBatchSize is how many chunks go into one embeddings request.
const embedBatchSize = 64

// maxEmbedDocuments bounds the documents one document.embed job walks
// (far above the per-user document quota).
const maxEmbedDocuments = 10000

// embedder computes one vector per input, in order
// (*providers.EmbeddingClient).
type embedder interface {
	Embed(ctx context.Context, inputs []string) ([][]float32, error)
}

// embedding is the service's embeddings client, built once at start.
type embedding struct {
	client embedder // nil: not configured
	unset  error    // why client is nil: the ErrNotConfigured naming the setting
}

// newEmbedding builds the embeddings client from HOPPER_EMBEDDINGS_*.
// Unset, the client is nil and unset says which setting is missing; a set
// but unusable configuration stops the service at start.
func newEmbedding(e product.Endpoint, lim *ratelimit.Limiter, log *zap.Logger) (embedding, error) {
	rl := lim.Provider("embeddings", e.URL, ratelimit.Limit{RequestsPerMinute: e.RPM, TokensPerMinute: e.TPM})
	c, err := providers.NewEmbeddingClient(providers.Config{URL: e.URL, APIKey: e.APIKey, Model: e.Model,
		HTTPClient: rl.HTTPClient(), OnUsage: rl.ChargeUsage})
	if setting, ok := providers.MissingSetting(err); ok {
		log.Info("no embeddings provider configured (" + setting + "): documents are indexed for full-text search only")
		return embedding{unset: err}, nil
	}
	if err != nil {
		return embedding{}, fmt.Errorf("HOPPER_EMBEDDINGS_*: %w", err)
	}
	log.Info("embeddings provider configured: chunks are embedded at ingest", zap.String("model", e.Model))
	return embedding{client: c}, nil
}

// embedTexts embeds texts in batches of embedBatchSize, reporting
// "embedding i/n" between pct and pct+span. done is called with each
// batch's first index and vectors (nil: collect only).
func embedTexts(ctx context.Context, job *hopper.RawJob, client embedder, texts []string, done, total, pct, span int,
	each func(start int, vecs [][]float32) error,
) error {
	for start := 0; start < len(texts); start += embedBatchSize {
		end := min(start+embedBatchSize, len(texts))
		_ = job.Progress(ctx, pct+span*(done+start)/max(total, 1), fmt.Sprintf("embedding %d/%d", done+start, total))
		vecs, err := client.Embed(ctx, texts[start:end])
		if err != nil {
			if providers.IsPermanent(err) {
				return hopper.Permanent(err)
			}
			return err
		}
		if err := each(start, vecs); err != nil {
			return err
		}
	}
	_ = job.Progress(ctx, pct+span*(done+len(texts))/max(total, 1), fmt.Sprintf("embedding %d/%d", done+len(texts), total))
	return nil
}

// embedStore reads an owner's documents and chunks and stores their
// vectors.
type embedStore interface {
	GetDocument(ctx context.Context, owner, id uuid.UUID) (content.Document, error)
	ListDocuments(ctx context.Context, owner uuid.UUID, limit int) ([]content.Document, error)
	DocumentChunkTexts(ctx context.Context, owner, documentID uuid.UUID) ([]content.ChunkText, error)
	SetChunkEmbeddings(ctx context.Context, owner uuid.UUID, embs []content.ChunkEmbedding) (int64, error)
}

// reembedder runs document.embed: (re)compute the embeddings of the
// owner's chunks, one document's or all of them, in batches. Re-running
// it only overwrites vectors with the same ones.
type reembedder struct {
	store embedStore
	embedding
	log *zap.Logger
}

// embedResult is document.embed's result.
type embedResult struct {
	Documents int   `json:"documents"`
	Chunks    int   `json:"chunks"`
	Updated   int64 `json:"updated"`
}

func (r *reembedder) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	if r.client == nil {
		return nil, hopper.Permanent(r.unset)
	}
	var p product.EmbedPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	var docs []content.Document
	if p.DocumentID != "" {
		id, err := uuid.Parse(p.DocumentID)
		if err != nil {
			return nil, hopper.Permanentf("payload.document_id: %v", err)
		}
		doc, err := r.store.GetDocument(ctx, job.Owner, id)
		if errors.Is(err, pg.ErrNotFound) {
			return nil, hopper.Permanentf("document %s not found (deleted, or not yours)", id)
		}
		if err != nil {
			return nil, err
		}
		docs = []content.Document{doc}
	} else {
		all, err := r.store.ListDocuments(ctx, job.Owner, maxEmbedDocuments)
		if err != nil {
			return nil, err
		}
		docs = all
	}
	total := 0
	for _, d := range docs {
		total += d.ChunkCount
	}
	res := embedResult{}
	for _, d := range docs {
		chunks, err := r.store.DocumentChunkTexts(ctx, job.Owner, d.ID)
		if err != nil {
			return nil, err
		}
		if len(chunks) == 0 {
			continue // not indexed (yet): its ingest embeds it
		}
		texts := make([]string, len(chunks))
		for i, c := range chunks {
			texts[i] = c.Content
		}
		total = max(total, res.Chunks+len(chunks))
		err = embedTexts(ctx, job, r.client, texts, res.Chunks, total, 5, 95, func(start int, vecs [][]float32) error {
			embs := make([]content.ChunkEmbedding, len(vecs))
			for i, v := range vecs {
				embs[i] = content.ChunkEmbedding{ChunkID: chunks[start+i].ID, Vector: v}
			}
			n, err := r.store.SetChunkEmbeddings(ctx, job.Owner, embs)
			res.Updated += n
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("embed %s: %w", d.Filename, err)
		}
		res.Documents++
		res.Chunks += len(chunks)
	}
	r.log.Info("chunks embedded", hlog.JobID(job.ID.String()), zap.Int("documents", res.Documents),
		zap.Int("chunks", res.Chunks), zap.Int64("updated", res.Updated))
	return res, nil
}
