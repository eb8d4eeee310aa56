// Package httpx holds the HTTP conventions every Hopper service shares: the
// one JSON error shape {"error": {"code", "message", "details"}}, request
// body limits, and gin middleware that never leaks a stack trace.
package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// Error codes, stable for API clients to branch on.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeConflict         = "conflict"
	CodeTooLarge         = "payload_too_large"
	CodeUnsupportedMedia = "unsupported_media_type"
	CodeQuotaExceeded    = "quota_exceeded"
	CodeUnprocessable    = "unprocessable"
	CodeRateLimited      = "rate_limited"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// Error is the body of every error answer.
type Error struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// ErrorBody wraps Error the way it goes on the wire.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Abort ends the request with status and the standard error body.
func Abort(c *gin.Context, status int, code, message string, details map[string]any) {
	b, err := json.Marshal(ErrorBody{Error: Error{Code: code, Message: message, Details: details}})
	if err != nil { // details a caller built that JSON cannot hold
		c.AbortWithStatus(status)
		return
	}
	// A declared length lets a client read the whole answer as soon as it
	// is flushed, even while the connection lingers (lingerUnread).
	c.Header("Content-Length", strconv.Itoa(len(b)))
	c.Data(status, "application/json; charset=utf-8", b)
	c.Abort()
}

// LimitBody caps request bodies at max bytes; reading past it fails with
// *http.MaxBytesError, which IsTooLarge recognises.
func LimitBody(max int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > max {
			Abort(c, http.StatusRequestEntityTooLarge, CodeTooLarge,
				"request body is larger than the limit", map[string]any{"limit_bytes": max})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
		c.Next()
	}
}

// LimitBodyByRoute is LimitBody with max for every route but those in
// larger, keyed "METHOD /route/template" (gin's FullPath), which get their
// own cap: uploads take more than a JSON request. On those routes an
// error answered before the body was read closes the connection
// (refuseUnread).
func LimitBodyByRoute(max int64, larger map[string]int64) gin.HandlerFunc {
	normal := LimitBody(max)
	per := make(map[string]gin.HandlerFunc, len(larger))
	for route, n := range larger {
		limit := LimitBody(n)
		per[route] = func(c *gin.Context) {
			body := refuseUnread(c)
			limit(c)
			lingerUnread(c, body)
		}
	}
	return func(c *gin.Context) {
		if h, ok := per[c.Request.Method+" "+c.FullPath()]; ok {
			h(c)
			return
		}
		normal(c)
	}
}

// refuseUnread makes an error answer (4xx, 5xx) given before the request's
// body was read to its end close the connection. Otherwise net/http, to
// keep the connection, would first read what remains of a body it cannot
// recognise as its own (once LimitBody has wrapped it) — from a client
// that is waiting for the answer before sending a large upload, until the
// read timeout. Closing is what it does anyway for a large unread body it
// does recognise. Call it before anything reads the body.
func refuseUnread(c *gin.Context) *eofBody {
	if c.Request.ContentLength == 0 {
		return nil
	}
	b := &eofBody{ReadCloser: c.Request.Body}
	c.Request.Body = b
	c.Writer = &closeUnread{ResponseWriter: c.Writer, body: b}
	return b
}

// Bounds of lingerUnread: what a refused upload may still send, and for
// how long, before its connection closes.
const (
	lingerBytes = 1 << 20
	lingerTime  = time.Second
)

// lingerUnread, after an error answer given before body was read to its
// end, flushes the answer and reads and discards up to lingerBytes more
// of the body for at most lingerTime before the connection closes.
// Closing a connection with unread data makes the kernel send a reset,
// which could reach the client before it read the answer: Go's client
// then reported "connection reset by peer" instead of the 413 (seen in
// CI, a 400 KB upload over a 64 KiB limit). A client that has read the
// answer stops sending; one that goes on is cut off at the bound.
func lingerUnread(c *gin.Context, body *eofBody) {
	if body == nil || body.ended.Load() || c.Writer.Status() < 400 {
		return
	}
	c.Writer.Flush()
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, body.ReadCloser, lingerBytes)
}

// eofBody notes when its reader ended (EOF or an error).
type eofBody struct {
	io.ReadCloser
	ended atomic.Bool
}

func (b *eofBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.ended.Store(true)
	}
	return n, err
}

// closeUnread adds "Connection: close" to an error answer while its
// request's body has not ended.
type closeUnread struct {
	gin.ResponseWriter
	body *eofBody
}

func (w *closeUnread) WriteHeader(code int) {
	if code >= 400 && !w.body.ended.Load() && !w.Written() {
		w.Header().Set("Connection", "close")
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *closeUnread) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// IsTooLarge reports whether err came from reading past LimitBody's cap.
func IsTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// Recovery turns a handler panic into a 500 with the standard body; the
// stack goes to the log, never to the client.
func Recovery(log *zap.Logger) gin.HandlerFunc {
	return gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, rec any) {
		log.Error("handler panicked", zap.Any("panic", rec), zap.String("path", c.FullPath()), zap.Stack("stack"))
		Abort(c, http.StatusInternalServerError, CodeInternal, "internal error", nil)
	})
}

// AccessLog logs one line per request at debug level (info for 5xx).
func AccessLog(log *zap.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		status := c.Writer.Status()
		fields := []zap.Field{
			zap.String("method", c.Request.Method), zap.String("path", c.FullPath()),
			zap.Int("status", status),
		}
		if status >= 500 {
			log.Warn("http request", fields...)
			return
		}
		log.Debug("http request", fields...)
	}
}

// NotFound and MethodNotAllowed answer unknown routes in the standard shape.
func NotFound(c *gin.Context) {
	Abort(c, http.StatusNotFound, CodeNotFound, "no such route: "+c.Request.Method+" "+c.Request.URL.Path, nil)
}

// MethodNotAllowed answers a known path with the wrong method.
func MethodNotAllowed(c *gin.Context) {
	Abort(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method "+c.Request.Method+" not allowed on "+c.Request.URL.Path, nil)
}
