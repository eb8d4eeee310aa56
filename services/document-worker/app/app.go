// Package app runs the document-worker service: it consumes the queues
// named by HOPPER_QUEUES and runs document.ingest (extract, chunk, embed
// when HOPPER_EMBEDDINGS_URL is set, index), document.embed and system.*.
package app

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/config"
	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/hopper"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/ratelimit"
	"github.com/hopperq/hopper/pkg/store"
)

// Run serves the document-worker until ctx ends, draining in-flight jobs.
func Run(ctx context.Context, cfg config.Config, log *zap.Logger) error {
	settings, err := product.LoadSettings(os.Getenv)
	if err != nil {
		return err
	}
	log.Info("product settings", settings.LogFields()...)
	ex := extract.Extractor{}
	if err := ex.CheckPDF(); err != nil {
		log.Warn("PDF ingestion will fail until pdftotext is installed (poppler-utils)", zap.Error(err))
	}
	// Embedding calls wait for the provider's rate limit (HOPPER_EMBEDDINGS_RPM,
	// _TPM), shared with every replica through Postgres.
	lim := ratelimit.New(log)
	emb, err := newEmbedding(settings.Providers.Embeddings, lim, log)
	if err != nil {
		return fmt.Errorf("document-worker: %w", err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: cfg.Concurrency + 2, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	lim.Bind(st)
	handlers := map[string]hopper.HandlerFunc{
		product.KindDocumentIngest: (&ingester{store: st, extractor: ex, embed: emb.client, log: log}).handle,
		product.KindDocumentEmbed:  (&reembedder{store: st, embedding: emb, log: log}).handle,
	}
	w, err := product.NewWorker(cfg, log, product.DocumentWorker, handlers)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}
