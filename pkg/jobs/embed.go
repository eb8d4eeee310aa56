package jobs

import (
	"github.com/google/uuid"
)

// KindDocumentEmbed (re)computes the embeddings of an owner's chunks
// (document-worker).
const KindDocumentEmbed = "document.embed"

// EmbedPayload is document.embed's payload: re-embed the chunks of the
// owner's document DocumentID, or of all the owner's documents when it is
// empty.
type EmbedPayload struct {
	DocumentID string `json:"document_id,omitempty"`
}

func (p *EmbedPayload) check() error {
	if p.DocumentID == "" {
		return nil
	}
	if _, err := uuid.Parse(p.DocumentID); err != nil {
		return invalid("payload.document_id", "want a document id")
	}
	return nil
}

func checkEmbedPayload(payload []byte) error {
	var p EmbedPayload
	if err := decodeStrict(payload, &p); err != nil {
		return err
	}
	return p.check()
}
