package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/hopper"
	hlog "github.com/hopperq/hopper/pkg/log"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// ingestStore reads an uploaded document and writes its index.
type ingestStore interface {
	GetDocument(ctx context.Context, owner, id uuid.UUID) (content.Document, error)
	DocumentData(ctx context.Context, id uuid.UUID) ([]byte, error)
	SetDocumentState(ctx context.Context, id uuid.UUID, state, msg string) error
	ReplaceChunks(ctx context.Context, doc content.Document, info content.IndexedDocument, chunks []content.Chunk) error
}

// ingester runs document.ingest: read the stored bytes, extract the text,
// normalise, chunk with overlap, embed the chunks (when a provider is
// configured) and index them.
type ingester struct {
	store     ingestStore
	extractor extract.Extractor
	embed     embedder // nil: full-text only
	log       *zap.Logger
}

// ingestResult is document.ingest's result.
type ingestResult struct {
	DocumentID string `json:"document_id"`
	Format     string `json:"format"`
	Title      string `json:"title,omitempty"`
	Pages      int    `json:"pages,omitempty"`
	Characters int    `json:"characters"`
	Chunks     int    `json:"chunks"`
	// Embedded is how many chunks got a vector; EmbeddingError says why
	// they did not when the provider failed for good (the document is
	// still indexed for full text; document.embed can fill them in).
	Embedded       int    `json:"embedded"`
	EmbeddingError string `json:"embedding_error,omitempty"`
}

func (in *ingester) handle(ctx context.Context, job *hopper.RawJob) (any, error) {
	var p product.IngestPayload
	if err := product.Decode(job.Payload, &p); err != nil {
		return nil, hopper.Permanent(err)
	}
	id, err := uuid.Parse(p.DocumentID)
	if err != nil {
		return nil, hopper.Permanentf("payload.document_id: %v", err)
	}
	// Owner-scoped: a job can only ingest its owner's document.
	doc, err := in.store.GetDocument(ctx, job.Owner, id)
	if errors.Is(err, pg.ErrNotFound) {
		return nil, hopper.Permanentf("document %s not found (deleted, or not yours)", id)
	}
	if err != nil {
		return nil, err
	}
	res, err := in.ingest(ctx, job, doc)
	if err != nil {
		in.recordFailure(ctx, job, doc, err)
		return nil, err
	}
	return res, nil
}

func (in *ingester) ingest(ctx context.Context, job *hopper.RawJob, doc content.Document) (*ingestResult, error) {
	if err := in.store.SetDocumentState(ctx, doc.ID, content.DocumentIndexing, ""); err != nil {
		return nil, err
	}
	format, err := extract.ParseFormat(doc.Format)
	if err != nil {
		return nil, hopper.Permanent(err)
	}
	_ = job.Progress(ctx, 10, "reading "+doc.Filename)
	data, err := in.store.DocumentData(ctx, doc.ID)
	if errors.Is(err, pg.ErrNotFound) {
		return nil, hopper.Permanentf("document %s was deleted", doc.ID)
	}
	if err != nil {
		return nil, err
	}

	_ = job.Progress(ctx, 25, "extracting text ("+string(format)+")")
	extracted, err := in.extractor.Text(ctx, format, bytes.NewReader(data), 0)
	if err != nil {
		if extract.IsPermanent(err) {
			return nil, hopper.Permanent(fmt.Errorf("%s: %w", doc.Filename, err))
		}
		return nil, fmt.Errorf("extract %s: %w", doc.Filename, err)
	}
	text := extract.Normalize(extracted.Text)
	if strings.TrimSpace(text) == "" {
		return nil, hopper.Permanentf("%s: no text found (a scanned PDF or an empty document?)", doc.Filename)
	}

	_ = job.Progress(ctx, 60, "splitting into chunks")
	pieces := extract.Chunk(text, extract.ChunkOptions{})
	chunks := make([]content.Chunk, len(pieces))
	for i, c := range pieces {
		chunks[i] = content.Chunk{Index: c.Index, Content: c.Text, StartOffset: c.Start, EndOffset: c.End}
	}

	embedded, embErr, err := in.embedChunks(ctx, job, chunks)
	if err != nil {
		return nil, err
	}

	_ = job.Progress(ctx, 85, fmt.Sprintf("indexing %d chunks", len(chunks)))
	info := content.IndexedDocument{Title: extracted.Title, Pages: extracted.Pages}
	if err := in.store.ReplaceChunks(ctx, doc, info, chunks); err != nil {
		if errors.Is(err, pg.ErrNotFound) {
			return nil, hopper.Permanentf("document %s was deleted while indexing", doc.ID)
		}
		return nil, err
	}
	_ = job.Progress(ctx, 100, fmt.Sprintf("indexed %d chunks", len(chunks)))
	in.log.Info("document indexed", hlog.JobID(job.ID.String()), zap.String("document_id", doc.ID.String()),
		zap.String("format", string(format)), zap.Int("chunks", len(chunks)), zap.Int("embedded", embedded))
	return &ingestResult{
		DocumentID: doc.ID.String(), Format: string(format), Title: extracted.Title, Pages: extracted.Pages,
		Characters: utf8.RuneCountInString(text), Chunks: len(chunks), Embedded: embedded, EmbeddingError: embErr,
	}, nil
}

// embedChunks sets each chunk's embedding when a provider is configured.
// A provider error the job's next attempt may not see (429, 5xx) fails
// the attempt; on the last attempt, or for an error no retry fixes (a bad
// key), the document is indexed for full text only and embErr says why.
func (in *ingester) embedChunks(ctx context.Context, job *hopper.RawJob, chunks []content.Chunk) (embedded int, embErr string, err error) {
	if in.embed == nil || len(chunks) == 0 {
		return 0, "", nil
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = c.Content
	}
	err = embedTexts(ctx, job, in.embed, texts, 0, len(texts), 60, 25, func(start int, vecs [][]float32) error {
		for i, v := range vecs {
			chunks[start+i].Embedding = v
		}
		return nil
	})
	if err == nil {
		return len(chunks), "", nil
	}
	if ctx.Err() != nil || (!hopper.IsPermanent(err) && job.Attempt < job.MaxAttempts) {
		return 0, "", fmt.Errorf("embed chunks: %w", err)
	}
	for i := range chunks {
		chunks[i].Embedding = nil
	}
	in.log.Warn("embedding failed: document indexed for full-text search only",
		hlog.JobID(job.ID.String()), zap.Error(err))
	return 0, err.Error(), nil
}

// recordFailure marks the document failed when this attempt is its last:
// a permanent error, or the job's attempts are used up. Otherwise the
// retry may still succeed and the document stays "indexing".
func (in *ingester) recordFailure(ctx context.Context, job *hopper.RawJob, doc content.Document, err error) {
	if !hopper.IsPermanent(err) && job.Attempt < job.MaxAttempts {
		return
	}
	if serr := in.store.SetDocumentState(context.WithoutCancel(ctx), doc.ID, content.DocumentFailed, err.Error()); serr != nil {
		in.log.Warn("record document failure", hlog.JobID(job.ID.String()), zap.Error(serr))
	}
}
