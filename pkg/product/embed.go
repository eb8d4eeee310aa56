package product

// KindDocumentEmbed (re)computes the embeddings of an owner's chunks
// (document-worker).
const KindDocumentEmbed = "document.embed"

// EmbedPayload is document.embed's payload: re-embed the chunks of the
// owner's document DocumentID, or of all the owner's documents when it is
// empty.
type EmbedPayload struct {
	DocumentID string `json:"document_id,omitempty" jsonschema:"pattern=^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"`
}
