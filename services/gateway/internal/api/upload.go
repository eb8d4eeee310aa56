package api

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/httpx"
	"github.com/hopperq/hopper/pkg/store/accounts"
	"github.com/hopperq/hopper/pkg/store/pg"
)

// An upload (POST /v1/documents, /v1/chat/transcribe) is checked before
// its body is read — key, plan, quotas, declared size, a free upload
// slot — and then streamed once, part by part, into the transaction that
// stores it (content.PartSize at a time): the gateway never holds a whole
// file (docs/ARCHITECTURE.md, "Uploads").

const (
	// uploadOverhead is what a multipart envelope may add to the file's
	// bytes: the part headers and the small fields around the file.
	uploadOverhead = 64 << 10
	// maxUploadField bounds one form field beside the file ("language",
	// "priority").
	maxUploadField = 1 << 10
)

// uploadError is an upload refused while its body was read: the answer's
// status, code, message and details.
type uploadError struct {
	status  int
	code    string
	message string
	details map[string]any
}

func (e *uploadError) Error() string { return e.message }

// answerUploadError answers err when it is (or wraps) an *uploadError or
// a read past the body's cap, and reports whether it did.
func answerUploadError(c *gin.Context, err error) bool {
	var ue *uploadError
	switch {
	case errors.As(err, &ue):
		httpx.Abort(c, ue.status, ue.code, ue.message, ue.details)
	case httpx.IsTooLarge(err):
		httpx.Abort(c, http.StatusRequestEntityTooLarge, httpx.CodeTooLarge, "request body is larger than the limit", nil)
	default:
		return false
	}
	return true
}

// startUpload runs an upload's checks before its body is read: the
// caller's job quota (and document quota, with docs set) on plan, and a
// free upload slot. It then gives the request its upload deadline. When
// ok is false it has answered; otherwise the caller must call release
// once the upload is stored or refused.
func (a *API) startUpload(c *gin.Context, p principal, plan accounts.Plan, docs bool) (release func(), ok bool) {
	ctx := c.Request.Context()
	if plan.JobsPerHour > 0 {
		u, err := a.db.plans.QuotaUsage(ctx, p.User.ID, plan.JobsPerHour, a.opts.Now())
		if err != nil {
			a.internalError(c, "quota usage", err)
			return nil, false
		}
		if u.JobsInWindow >= plan.JobsPerHour {
			a.quotaError(c, plan, &pg.QuotaError{Limit: pg.LimitJobsPerHour, Max: plan.JobsPerHour,
				Used: u.JobsInWindow, Requested: 1, RetryAfter: max(u.RetryAfter, time.Second)})
			return nil, false
		}
	}
	if limit := a.documentsLimit(plan); docs && limit > 0 {
		n, err := a.db.plans.CountDocuments(ctx, p.User.ID)
		if err != nil {
			a.internalError(c, "count documents", err)
			return nil, false
		}
		if n >= int64(limit) {
			a.quotaError(c, plan, &pg.QuotaError{Limit: pg.LimitDocumentsPerUser, Max: limit, Used: int(n), Requested: 1})
			return nil, false
		}
	}
	release, refusal := a.uploads.acquire(p.KeyID)
	switch refusal {
	case slotsPerKeyFull:
		c.Header("Retry-After", "1")
		httpx.Abort(c, http.StatusTooManyRequests, httpx.CodeRateLimited, fmt.Sprintf(
			"this API key already has %d uploads in progress (HOPPER_UPLOADS_PER_KEY): wait for one to finish", a.uploads.perKey),
			map[string]any{"limit": "uploads_per_key", "max": a.uploads.perKey, "retry_after_seconds": 1})
		return nil, false
	case slotsTotalFull:
		c.Header("Retry-After", "2")
		httpx.Abort(c, http.StatusServiceUnavailable, httpx.CodeUnavailable, fmt.Sprintf(
			"the gateway is receiving %d uploads, its limit (HOPPER_UPLOADS_TOTAL): retry shortly", a.uploads.total),
			map[string]any{"limit": "uploads_total", "max": a.uploads.total, "retry_after_seconds": 2})
		return nil, false
	}
	// The server's read and write timeouts suit small requests; an upload
	// has its own, long enough for the largest file on a slow link.
	if a.opts.UploadTimeout > 0 {
		rc := http.NewResponseController(c.Writer)
		deadline := time.Now().Add(a.opts.UploadTimeout)
		_ = rc.SetReadDeadline(deadline) // unsupported (a test recorder): the server's own deadline stays
		_ = rc.SetWriteDeadline(deadline)
	}
	return release, true
}

// multipartUpload is a multipart/form-data upload being read: the small
// fields before and after the file, and the file part ("file") itself,
// streamed by copyTo.
type multipartUpload struct {
	mr     *multipart.Reader
	body   *envelopeBudget
	file   *multipart.Part
	fields map[string]string
	known  []string
	// Filename is the file's name as the client sent it.
	Filename string
	// Head is the file's first bytes (up to the headLen asked), for
	// sniffing; copyTo writes them first.
	Head          []byte
	limit         int64
	what, setting string
}

// openUpload reads the request's multipart body up to the file part (the
// field "file") and the file's first headLen bytes, keeping the fields
// named in known that come before it. When it returns ok false it has
// answered: 400 for a body that is no such upload, 413 when too large.
func openUpload(c *gin.Context, limit int64, headLen int, what, setting string, known ...string) (*multipartUpload, bool) {
	u := &multipartUpload{fields: map[string]string{}, known: known, limit: limit, what: what, setting: setting}
	badRequest := func() {
		httpx.Abort(c, http.StatusBadRequest, httpx.CodeBadRequest,
			"want a multipart/form-data body with the "+what+" in the field \"file\"", nil)
	}
	mediaType, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		badRequest()
		return nil, false
	}
	u.body = &envelopeBudget{r: c.Request.Body, left: uploadOverhead}
	u.mr = multipart.NewReader(u.body, params["boundary"])
	for u.file == nil {
		part, err := u.mr.NextPart()
		if err != nil {
			if !answerUploadError(c, err) {
				badRequest()
			}
			return nil, false
		}
		if err := u.readPart(part); err != nil {
			if !answerUploadError(c, err) {
				badRequest()
			}
			return nil, false
		}
	}
	u.body.left = limit + uploadOverhead // the file's own budget, checked exactly by copyTo
	u.Head = make([]byte, headLen)
	n, err := io.ReadFull(u.file, u.Head)
	u.Head = u.Head[:n]
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		if !answerUploadError(c, err) {
			badRequest()
		}
		return nil, false
	}
	if int64(n) > limit {
		answerUploadError(c, u.tooLarge())
		return nil, false
	}
	return u, true
}

// readPart handles a part that is not (yet) the file: the file part is
// kept for copyTo, a known field is read (bounded), anything else is
// skipped.
func (u *multipartUpload) readPart(part *multipart.Part) error {
	name := part.FormName()
	switch {
	case name == "file" && part.FileName() != "":
		if u.file != nil {
			return &uploadError{status: http.StatusBadRequest, code: httpx.CodeBadRequest,
				message: "one " + u.what + " per upload: the field \"file\" appears twice"}
		}
		u.file, u.Filename = part, part.FileName()
		return nil
	case slices.Contains(u.known, name):
		v, err := io.ReadAll(io.LimitReader(part, maxUploadField+1))
		if err != nil {
			return err
		}
		if len(v) > maxUploadField {
			return &uploadError{status: http.StatusRequestEntityTooLarge, code: httpx.CodeTooLarge,
				message: fmt.Sprintf("the field %q is longer than %d bytes", name, maxUploadField)}
		}
		u.fields[name] = string(v)
		return nil
	default:
		_, err := io.Copy(io.Discard, part)
		return err
	}
}

// Field is a form field's value ("" when absent); complete once copyTo
// has returned.
func (u *multipartUpload) Field(name string) string { return u.fields[name] }

func (u *multipartUpload) tooLarge() error {
	return &uploadError{status: http.StatusRequestEntityTooLarge, code: httpx.CodeTooLarge,
		message: "the " + u.what + " is larger than " + u.setting, details: map[string]any{"limit_bytes": u.limit}}
}

// copyTo writes the file, Head first, to w — at most limit bytes, else a
// 413 *uploadError — then reads the rest of the body (the fields after
// the file). The bytes pass through in small reads; nothing here holds
// the file.
func (u *multipartUpload) copyTo(w io.Writer) error {
	if _, err := w.Write(u.Head); err != nil {
		return err
	}
	rest := u.limit - int64(len(u.Head))
	n, err := io.Copy(w, io.LimitReader(u.file, rest+1))
	if err != nil {
		if httpx.IsTooLarge(err) || errors.Is(err, errEnvelopeTooLarge) {
			return u.tooLarge()
		}
		var ue *uploadError
		if errors.As(err, &ue) {
			return err
		}
		return &uploadError{status: http.StatusBadRequest, code: httpx.CodeBadRequest,
			message: "cannot read the uploaded " + u.what + ": " + err.Error()}
	}
	if n > rest {
		return u.tooLarge()
	}
	u.body.left = uploadOverhead
	for {
		part, err := u.mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = u.readPart(part)
		}
		if err != nil {
			var ue *uploadError
			if errors.As(err, &ue) || httpx.IsTooLarge(err) {
				return err
			}
			return &uploadError{status: http.StatusBadRequest, code: httpx.CodeBadRequest,
				message: "malformed multipart body after the " + u.what + ": " + err.Error()}
		}
	}
}

// errEnvelopeTooLarge: the part headers and fields around the file
// exceed uploadOverhead.
var errEnvelopeTooLarge = &uploadError{status: http.StatusRequestEntityTooLarge, code: httpx.CodeTooLarge,
	message: fmt.Sprintf("the multipart headers and fields around the file are larger than %d bytes", uploadOverhead)}

// envelopeBudget bounds what each phase of an upload may read: the
// envelope before and after the file (part headers, which mime/multipart
// would otherwise buffer up to 10 MiB, and small fields), and the file.
type envelopeBudget struct {
	r    io.Reader
	left int64
}

func (b *envelopeBudget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errEnvelopeTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
