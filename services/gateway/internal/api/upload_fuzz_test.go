package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hopperq/hopper/pkg/extract"
	"github.com/hopperq/hopper/pkg/httpx"
)

// The multipart parsing itself is the standard library's (mime/multipart);
// ours is what wraps it: openUpload and copyTo (the streamed file, the
// fields around it, size limits, 400/413 answers), cleanFilename, and the
// sniffing of the file's head.
const (
	fuzzUploadLimit = 512
	fuzzBodyLimit   = fuzzUploadLimit + 1024
)

// uploadSeen is what the fuzz handler got from the upload.
type uploadSeen struct {
	ok       bool
	data     []byte
	filename string
}

// uploadRouter serves POST /upload the way the gateway serves
// /v1/documents and /v1/chat/transcribe, up to the sniffing.
func uploadRouter(t *testing.T, seen *uploadSeen) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(httpx.LimitBody(fuzzBodyLimit))
	r.POST("/upload", func(c *gin.Context) {
		up, ok := openUpload(c, fuzzUploadLimit, extract.SniffLen, "document", "HOPPER_MAX_UPLOAD_BYTES", "language")
		if !ok {
			return
		}
		var buf bytes.Buffer
		if err := up.copyTo(&buf); err != nil {
			if !answerUploadError(c, err) {
				t.Fatalf("copyTo: untyped error %T: %v", err, err)
			}
			return
		}
		data, filename := buf.Bytes(), up.Filename
		*seen = uploadSeen{ok: true, data: data, filename: filename}
		if !bytes.HasPrefix(data, up.Head) {
			t.Fatalf("the head %q is not the start of the file %q", up.Head, data)
		}
		name := cleanFilename(filename)
		if !utf8.ValidString(name) || len(name) > 255 || name == "" || name == "." || name == ".." ||
			strings.ContainsAny(name, "/\\") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("cleanFilename(%q) = %q: want 1-255 bytes of UTF-8, no separators or control characters, not . or ..", filename, name)
		}
		format, err := extract.Sniff(data[:min(len(data), extract.SniffLen)], name)
		var unsupported extract.ErrUnsupported
		var corrupt extract.ErrCorrupt
		switch {
		case err == nil && contentTypes[format] == "":
			t.Fatalf("Sniff: format %q has no content type", format)
		case err != nil && !errors.As(err, &unsupported) && !errors.As(err, &corrupt):
			t.Fatalf("Sniff: untyped error %T: %v", err, err)
		}
		if f, _, ok := sniffAudio(data); ok && !slices.Contains(supportedAudio, f.ext) {
			t.Fatalf("sniffAudio: unsupported extension %q", f.ext)
		}
		c.Status(http.StatusOK)
	})
	return r
}

// postUpload sends body as multipart/form-data with boundary B.
func postUpload(r *gin.Engine, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

// checkAnswer asserts the answer is 200, or 400/413 with the error shape.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder, seen uploadSeen) {
	t.Helper()
	switch w.Code {
	case http.StatusOK:
		if !seen.ok || len(seen.data) > fuzzUploadLimit {
			t.Fatalf("200 for ok=%v and %d bytes (limit %d)", seen.ok, len(seen.data), fuzzUploadLimit)
		}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		var body httpx.ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
			t.Fatalf("%d with body %q: want the standard error shape", w.Code, w.Body.String())
		}
		if seen.ok {
			t.Fatalf("%d but the upload was read whole", w.Code)
		}
	default:
		t.Fatalf("status %d: want 200, 400 or 413 (%s)", w.Code, w.Body.String())
	}
}

// FuzzUpload: an upload built from any Content-Disposition, part
// Content-Type and bytes, and any raw body, is answered 200 (the bytes
// within the limit, exactly as sent when the headers are well formed, a
// safe file name, a typed sniffing result) or 400/413 with the standard
// error shape; never a panic or a 5xx.
func FuzzUpload(f *testing.F) {
	for _, s := range [][3]string{
		{`form-data; name="file"; filename="report.pdf"`, "application/pdf", "%PDF-1.4\n"},
		{`form-data; name="file"; filename="../../etc/passwd"`, "text/plain", "root:x:0:0"},
		{`form-data; name="file"; filename="C:\\Users\\me\\notes.md"`, "text/markdown", "# Notes\n"},
		{`form-data; name="file"; filename*=UTF-8''%E2%82%AC%FF%00.txt`, "", "euro"},
		{`form-data; name="file"; filename=".."`, "", "dots"},
		{`form-data; name="file"; filename="` + strings.Repeat("é", 200) + `.txt"`, "", "long"},
		{`form-data; name="file"; filename="a\x01b\x7f.docx"`, "", "PK\x03\x04"},
		{`form-data; name="file"; filename="rec.wav"`, "audio/wav", "RIFF\x24\x00\x00\x00WAVEfmt "},
		{`form-data; name="other"; filename="x.txt"`, "", "not the file field"},
		{`form-data; name="file"`, "", "no filename"},
		{`attachment; filename="x.txt"`, "", "x"},
		{`form-data; name="file"; filename="big.txt"`, "", strings.Repeat("a", fuzzUploadLimit+1)},
	} {
		f.Add(s[0], s[1], []byte(s[2]), []byte("--B\r\nContent-Disposition: "+s[0]+"\r\n\r\n"+s[2]+"\r\n--B--\r\n"))
	}
	f.Add("", "", []byte{}, []byte("--B\r\n\r\n--B--"))
	f.Add("", "", []byte{}, []byte(strings.Repeat("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nx\r\n", 50)+"--B--\r\n"))
	f.Fuzz(func(t *testing.T, disposition, partType string, data, raw []byte) {
		var seen uploadSeen
		r := uploadRouter(t, &seen)

		var body bytes.Buffer
		body.WriteString("--B\r\nContent-Disposition: " + disposition + "\r\n")
		if partType != "" {
			body.WriteString("Content-Type: " + partType + "\r\n")
		}
		body.WriteString("\r\n")
		body.Write(data)
		body.WriteString("\r\n--B--\r\n")
		w := postUpload(r, body.Bytes())
		checkAnswer(t, w, seen)
		// The part ends at the first CRLF--B, including the one before data.
		wellFormed := !strings.ContainsAny(disposition+partType, "\r\n") && !bytes.Contains(append([]byte("\r\n"), data...), []byte("\r\n--B"))
		if w.Code == http.StatusOK && wellFormed && !bytes.Equal(seen.data, data) {
			t.Fatalf("got %q, sent %q", seen.data, data)
		}

		seen = uploadSeen{}
		checkAnswer(t, postUpload(r, raw), seen)
	})
}

// TestCleanFilename: what FuzzUpload found: ".." was kept, and cutting
// at 255 bytes could split a rune (Postgres refuses the invalid UTF-8).
func TestCleanFilename(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) + ".txt"
	for in, want := range map[string]string{
		"report.pdf":             "report.pdf",
		"../../etc/passwd":       "passwd",
		`C:\Users\me\a.md`:       "a.md",
		"..":                     "document",
		".":                      "document",
		"":                       "document",
		"a\x00b\x7f.txt":         "ab.txt",
		"caf\xe9.txt":            "caf\uFFFD.txt",
		long:                     strings.Repeat("é", 127),
		strings.Repeat("a", 300): strings.Repeat("a", 255),
	} {
		if got := cleanFilename(in); got != want {
			t.Errorf("cleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
}
