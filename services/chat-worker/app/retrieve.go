package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/hopper"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/providers"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store/content"
)

// How passages were retrieved (a result's "retrieval").
const (
	RetrievalHybrid   = "hybrid"   // full text and embeddings, fused (RRF)
	RetrievalFulltext = "fulltext" // Postgres full-text search only
)

// questionEmbedder embeds a question (*providers.EmbeddingClient).
type questionEmbedder interface {
	Embed(ctx context.Context, inputs []string) ([][]float32, error)
}

// newQuestionEmbedder builds the embeddings client from HOPPER_EMBEDDINGS_*
// once at start; unset, retrieval is full text only (nil, nil). A set but
// unusable configuration stops the service.
func newQuestionEmbedder(e product.Endpoint, lim *ratelimit.Limiter, log *zap.Logger) (questionEmbedder, error) {
	c, err := providers.NewEmbeddingClient(providerConfig(lim, "embeddings", e))
	if setting, ok := providers.MissingSetting(err); ok {
		log.Info("no embeddings provider configured (" + setting + "): qa.ask retrieves by full text only")
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("HOPPER_EMBEDDINGS_*: %w", err)
	}
	log.Info("embeddings provider configured: qa.ask uses hybrid retrieval", zap.String("model", e.Model))
	return c, nil
}

// chunkSearcher ranks an owner's chunks against a question.
type chunkSearcher interface {
	SearchChunks(ctx context.Context, owner uuid.UUID, query string, limit int) ([]content.ChunkHit, error)
	SearchChunksHybrid(ctx context.Context, owner uuid.UUID, query string, queryVec []float32, limit int) ([]content.ChunkHit, error)
}

// retriever finds the owner's passages for a question: hybrid (full text
// fused with vector similarity) when an embeddings provider is set, full
// text otherwise.
type retriever struct {
	store chunkSearcher
	embed questionEmbedder // nil: full text only
	log   *zap.Logger
}

// search returns the best topK passages and how they were found. When the
// question cannot be embedded, an error a later attempt may not see fails
// this attempt; on the last attempt, or for an error no retry fixes,
// retrieval falls back to full text.
func (r retriever) search(ctx context.Context, job *hopper.RawJob, question string, topK int) ([]content.ChunkHit, string, error) {
	if r.embed != nil {
		vecs, err := r.embed.Embed(ctx, []string{question})
		switch {
		case err == nil:
			hits, err := r.store.SearchChunksHybrid(ctx, job.Owner, question, vecs[0], topK)
			if err != nil {
				return nil, "", fmt.Errorf("retrieve: %w", err)
			}
			return hits, RetrievalHybrid, nil
		case ctx.Err() != nil:
			return nil, "", fmt.Errorf("embed question: %w", err)
		case !providers.IsPermanent(err) && job.Attempt < job.MaxAttempts:
			return nil, "", fmt.Errorf("embed question: %w", err)
		default:
			r.log.Warn("embedding the question failed: retrieving by full text only",
				hlog.JobID(job.ID.String()), zap.Error(err))
		}
	}
	hits, err := r.store.SearchChunks(ctx, job.Owner, question, topK)
	if err != nil {
		return nil, "", fmt.Errorf("retrieve: %w", err)
	}
	return hits, RetrievalFulltext, nil
}
