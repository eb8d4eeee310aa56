package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/product"
	"github.com/hopperq/hopper/pkg/store/content"
	"github.com/hopperq/hopper/pkg/store/jobstore"
)

// contentTypes names each format's media type, whatever the client said.
var contentTypes = map[extract.Format]string{
	extract.FormatText:     "text/plain; charset=utf-8",
	extract.FormatMarkdown: "text/markdown; charset=utf-8",
	extract.FormatHTML:     "text/html; charset=utf-8",
	extract.FormatPDF:      "application/pdf",
	extract.FormatDOCX:     "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

// uploadDocument stores a multipart upload (field "file") and the
// document.ingest job that indexes it, in one transaction, then publishes
// the job. Key, plan, quotas and an upload slot are checked before the
// body is read; the bytes are sniffed from the file's head, not trusted to
// the client's type, and streamed once into Postgres (startUpload).
func (a *API) uploadDocument(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	plan, ok := a.callerPlan(c, p)
	if !ok {
		return
	}
	release, ok := a.startUpload(c, p, plan, true)
	if !ok {
		return
	}
	defer release()
	up, ok := openUpload(c, a.opts.MaxUploadBytes, extract.SniffLen, "document", "HOPPER_MAX_UPLOAD_BYTES")
	if !ok {
		return
	}
	name := cleanFilename(up.Filename)
	format, err := extract.Sniff(up.Head, name)
	if err != nil {
		documentFormatError(c, err)
		return
	}
	ingest := func(id uuid.UUID) (jobstore.NewJob, error) {
		payload, err := json.Marshal(map[string]string{"document_id": id.String()})
		if err != nil {
			return jobstore.NewJob{}, err
		}
		spec, err := a.validate(c.Request.Context(), jobs.SubmitRequest{Kind: product.KindDocumentIngest, Payload: payload})
		if err != nil {
			return jobstore.NewJob{}, err
		}
		if err := applyPlan(&spec, nil, false, plan); err != nil {
			return jobstore.NewJob{}, err
		}
		return jobstore.NewJob{OwnerID: p.User.ID, Spec: spec, JobsPerHour: plan.JobsPerHour}, nil
	}
	ctx := c.Request.Context()
	doc, job, err := a.db.uploads.CreateDocument(ctx, content.NewDocument{
		OwnerID: p.User.ID, Filename: name, ContentType: contentTypes[format], Format: string(format),
		Body: up.copyTo, MaxPerUser: a.documentsLimit(plan), Ingest: ingest,
	}, a.opts.Now())
	if a.quotaError(c, plan, err) || answerUploadError(c, err) {
		return
	}
	if err != nil {
		a.internalError(c, "create document", err)
		return
	}
	a.accepted(ctx, job)
	c.JSON(http.StatusAccepted, DocumentAccepted{Document: documentView(doc), Job: acceptedBody(job)})
}

// DocumentAccepted answers POST /v1/documents: the stored document and
// its queued ingest job.
type DocumentAccepted struct {
	Document DocumentView `json:"document"`
	Job      JobAccepted  `json:"job"`
}

// documentFormatError answers an upload whose bytes are no supported
// document: 415 for another type, 422 for a broken file.
func documentFormatError(c *gin.Context, err error) {
	var unsupported extract.ErrUnsupported
	if errors.As(err, &unsupported) {
		httpx.Abort(c, http.StatusUnsupportedMediaType, httpx.CodeUnsupportedMedia, err.Error(),
			map[string]any{"detected": unsupported.Detected, "supported": []string{"txt", "md", "html", "pdf", "docx"}})
		return
	}
	httpx.Abort(c, http.StatusUnprocessableEntity, httpx.CodeUnprocessable, err.Error(), nil)
}

// cleanFilename keeps the base name, printable, at most 255 bytes of
// UTF-8 (Postgres refuses anything else), never "." or "..".
func cleanFilename(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "." || name == ".." || name == "/" || name == "" {
		name = "document"
	}
	for len(name) > 255 { // whole runes: strings.Map made name valid UTF-8
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name
}

func (a *API) listDocuments(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	limit := 100
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest, "limit: want 1 to 1000", nil)
			return
		}
		limit = n
	}
	docs, err := a.db.uploads.ListDocuments(c.Request.Context(), p.User.ID, limit)
	if err != nil {
		a.internalError(c, "list documents", err)
		return
	}
	out := DocumentList{Documents: make([]DocumentView, 0, len(docs))}
	for _, d := range docs {
		out.Documents = append(out.Documents, documentView(d))
	}
	c.JSON(http.StatusOK, out)
}

// DocumentList answers GET /v1/documents, newest first.
type DocumentList struct {
	Documents []DocumentView `json:"documents"`
}

func (a *API) getDocument(c *gin.Context) {
	owner, id, ok := documentInPath(c)
	if !ok {
		return
	}
	doc, err := a.db.uploads.GetDocument(c.Request.Context(), owner, id)
	if a.storeFailed(c, "get document", err, documentNotFound) {
		return
	}
	c.JSON(http.StatusOK, documentView(doc))
}

func (a *API) deleteDocument(c *gin.Context) {
	owner, id, ok := documentInPath(c)
	if !ok {
		return
	}
	err := a.db.uploads.DeleteDocument(c.Request.Context(), owner, id)
	if a.storeFailed(c, "delete document", err, documentNotFound) {
		return
	}
	c.Status(http.StatusNoContent)
}

// documentInPath is the caller (the owner the store looks under) and the
// document id in the path. When it returns ok false it has answered: 403
// for the admin token, 404 for an id that is no UUID.
func documentInPath(c *gin.Context) (owner, id uuid.UUID, ok bool) {
	p, ok := jobOwner(c)
	if !ok {
		return uuid.Nil, uuid.Nil, false
	}
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		documentNotFound(c)
		return uuid.Nil, uuid.Nil, false
	}
	return p.User.ID, id, true
}

func documentNotFound(c *gin.Context) {
	httpx.Abort(c, http.StatusNotFound, httpx.CodeNotFound, "document not found", nil)
}

// DocumentView is an uploaded document and its ingest state.
type DocumentView struct {
	ID          string  `json:"id"`
	Filename    string  `json:"filename"`
	ContentType string  `json:"content_type"`
	Format      string  `json:"format"`
	SizeBytes   int64   `json:"size_bytes"`
	Sha256      string  `json:"sha256"`
	State       string  `json:"state"`
	Error       *string `json:"error"`
	Title       *string `json:"title"`
	Pages       int     `json:"pages"`
	Chunks      int     `json:"chunks"`
	CreatedAt   *string `json:"created_at"`
	UpdatedAt   *string `json:"updated_at"`
	IngestJobID *string `json:"ingest_job_id"`
}

func documentView(d content.Document) DocumentView {
	v := DocumentView{
		ID: d.ID.String(), Filename: d.Filename, ContentType: d.ContentType, Format: d.Format,
		SizeBytes: d.SizeBytes, Sha256: d.Sha256, State: d.State, Error: nullIfEmpty(d.Error),
		Title: nullIfEmpty(d.Title), Pages: d.Pages, Chunks: d.ChunkCount,
		CreatedAt: rfc3339(&d.CreatedAt), UpdatedAt: rfc3339(&d.UpdatedAt),
	}
	if d.IngestJobID != nil {
		id := d.IngestJobID.String()
		v.IngestJobID = &id
	}
	return v
}

// qaRequest is POST /v1/qa/ask's body.
type qaRequest struct {
	Question string          `json:"question"`
	TopK     int             `json:"top_k,omitempty"`
	Priority json.RawMessage `json:"priority,omitempty"`
	Webhook  string          `json:"webhook_url,omitempty"`
}

// askQuestion submits a qa.ask job over the caller's documents.
func (a *API) askQuestion(c *gin.Context) {
	p, ok := jobOwner(c)
	if !ok {
		return
	}
	var req qaRequest
	if !a.decodeJSON(c, &req) {
		return
	}
	payload, err := json.Marshal(product.QAPayload{Question: req.Question, TopK: req.TopK})
	if err != nil {
		a.internalError(c, "encode payload", err)
		return
	}
	a.submit(c, p, jobs.SubmitRequest{Kind: product.KindQAAsk, Payload: payload, Priority: req.Priority, WebhookURL: req.Webhook})
}
