package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract/extracttest"
	"github.com/hopperq/hopper/pkg/testkit"
)

// upload posts data to /v1/documents as the multipart field "file".
func (c *client) upload(key, filename string, data []byte) (int, map[string]any) {
	c.t.Helper()
	return c.postFile("/v1/documents", key, filename, data, nil)
}

// postFile posts data to path as the multipart field "file", with extra
// form fields, and decodes the JSON answer.
func (c *client) postFile(path, key, filename string, data []byte, fields map[string]string) (int, map[string]any) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		require.NoError(c.t, mw.WriteField(k, v))
	}
	fw, err := mw.CreateFormFile("file", filename)
	require.NoError(c.t, err)
	_, err = fw.Write(data)
	require.NoError(c.t, err)
	require.NoError(c.t, mw.Close())
	req, err := http.NewRequest(http.MethodPost, c.base+path, &body)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	out := map[string]any{}
	require.NoError(c.t, json.Unmarshal(raw, &out), "%s", raw)
	return resp.StatusCode, out
}

func (c *client) uploadOK(key, filename string, data []byte) (docID, jobID string) {
	c.t.Helper()
	code, out := c.upload(key, filename, data)
	require.Equal(c.t, http.StatusAccepted, code, out)
	return out["document"].(map[string]any)["id"].(string), out["job"].(map[string]any)["id"].(string)
}

// TestDocumentsAndQuestions: PDF, DOCX and HTML uploads are ingested by
// the real document-worker; a question answered in the DOCX cites that
// document's chunk through the real chat-worker; another user finds
// nothing of the first user's.
func TestDocumentsAndQuestions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, env{"HOPPER_MAX_DOCUMENTS_PER_USER": "3", "HOPPER_MAX_UPLOAD_BYTES": "262144"})
	bob := newUserKey(t, c, e)
	for _, svc := range []string{"document-worker", "chat-worker"} {
		addr := freeAddr(t)
		p := start(t, svc, e, env{"HOPPER_METRICS_ADDR": addr})
		waitReady(t, "http://"+addr+"/readyz", p)
	}

	pdfDoc, pdfJob := c.uploadOK(alice, "handbook.pdf", extracttest.PDF(t,
		"Employee handbook. Holidays are booked through the staff portal two weeks ahead."))
	docxDoc, docxJob := c.uploadOK(alice, "operations.docx", extracttest.DOCX(t,
		"Operations manual",
		"The warehouse opens at six in the morning.",
		"The loading dock door is painted turquoise so drivers can find it from the road.",
		"Forklifts are charged overnight in bay four."))
	htmlDoc, htmlJob := c.uploadOK(alice, "menu.html", []byte(`<!doctype html><html><head><title>Canteen</title>
<script>var secret = "turquoise door";</script><style>p{color:red}</style></head>
<body><nav>Home | About</nav><h1>Canteen menu</h1><p>Soup of the day is lentil.</p><p>The canteen closes at two.</p></body></html>`))

	for _, j := range []string{pdfJob, docxJob, htmlJob} {
		job := c.waitState(alice, j, "succeeded", testkit.Deadline)
		assert.Positive(t, job["result"].(map[string]any)["chunks"], j)
	}
	for _, d := range []string{pdfDoc, docxDoc, htmlDoc} {
		code, doc := c.do("GET", "/v1/documents/"+d, alice, nil)
		require.Equal(t, 200, code, doc)
		assert.Equal(t, "ready", doc["state"], doc)
	}
	code, list := c.do("GET", "/v1/documents", alice, nil)
	require.Equal(t, 200, code)
	assert.Len(t, list["documents"], 3)

	// The answer is in the DOCX: its chunk is cited first.
	code, out := c.do("POST", "/v1/qa/ask", alice, map[string]any{"question": "What colour is the loading dock door?"})
	require.Equal(t, 202, code, out)
	job := c.waitState(alice, out["id"].(string), "succeeded", testkit.Deadline)
	res := job["result"].(map[string]any)
	cites := res["citations"].([]any)
	require.NotEmpty(t, cites, res)
	first := cites[0].(map[string]any)
	assert.Equal(t, docxDoc, first["document_id"], res)
	assert.Equal(t, "operations.docx", first["filename"])
	assert.Contains(t, res["answer"], "turquoise", res)
	assert.Equal(t, "extractive", res["mode"])
	assert.Contains(t, res["note"], "HOPPER_LLM_URL")
	for _, cite := range cites {
		assert.NotEqual(t, htmlDoc, cite.(map[string]any)["document_id"], "script text is not indexed")
	}

	// Bob asks the same: none of Alice's documents.
	code, out = c.do("POST", "/v1/qa/ask", bob, map[string]any{"question": "What colour is the loading dock door?", "priority": "high"})
	require.Equal(t, 202, code, out)
	job = c.waitState(bob, out["id"].(string), "succeeded", testkit.Deadline)
	assert.Empty(t, job["result"].(map[string]any)["citations"], "bob sees nothing of alice's")
	code, _ = c.do("GET", "/v1/documents/"+docxDoc, bob, nil)
	assert.Equal(t, 404, code)

	// Quota, size, type and corrupt files.
	code, out = c.upload(alice, "fourth.txt", []byte("one too many"))
	assert.Equal(t, 429, code, out)
	assert.Equal(t, "quota_exceeded", out["error"].(map[string]any)["code"])
	code, out = c.upload(bob, "big.txt", []byte(strings.Repeat("a", 300_000)))
	assert.Equal(t, 413, code, out)
	code, out = c.upload(bob, "photo.png", extracttest.PNG(t))
	assert.Equal(t, 415, code, out)
	assert.Contains(t, out["error"].(map[string]any)["message"], "image/png")
	badPDF := extracttest.PDF(t, "truncated")
	badDoc, badJob := c.uploadOK(bob, "broken.pdf", badPDF[:len(badPDF)/3])
	job = c.waitState(bob, badJob, "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"], "a corrupt file fails at once, without retries")
	_, doc := c.do("GET", "/v1/documents/"+badDoc, bob, nil)
	assert.Equal(t, "failed", doc["state"])
	assert.Contains(t, doc["error"], "broken.pdf")

	// Deleting frees quota and removes the passages.
	code, _ = c.do("DELETE", "/v1/documents/"+docxDoc, alice, nil)
	assert.Equal(t, 204, code)
	code, out = c.do("POST", "/v1/qa/ask", alice, map[string]any{"question": "What colour is the loading dock door?"})
	require.Equal(t, 202, code, out)
	job = c.waitState(alice, out["id"].(string), "succeeded", testkit.Deadline)
	for _, cite := range job["result"].(map[string]any)["citations"].([]any) {
		assert.NotEqual(t, docxDoc, cite.(map[string]any)["document_id"])
	}
	c.uploadOK(alice, "fourth.txt", []byte("room again"))

	code, out = c.do("POST", "/v1/qa/ask", alice, map[string]any{"question": ""})
	assert.Equal(t, 422, code, out)
}

// TestDocumentNestingBomb: a 17 KB DOCX nesting a million elements fails
// its ingest job at once with the "too complex" error, without the
// document worker's memory growing; the worker stays ready and ingests the
// next document.
func TestDocumentNestingBomb(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, key := stackWithGateway(t, e, nil)
	addr := freeAddr(t)
	worker := start(t, "document-worker", e, env{"HOPPER_METRICS_ADDR": addr})
	waitReady(t, "http://"+addr+"/readyz", worker)

	bombDoc, bombJob := c.uploadOK(key, "bomb.docx", extracttest.NestingBombDOCX(t, 1_000_000))
	job := c.waitState(key, bombJob, "failed", testkit.Deadline)
	assert.Equal(t, float64(1), job["attempts"], "permanent: no retry")
	assert.Contains(t, job["error"], "bomb.docx: extract: docx too complex: element nesting in word/document.xml over the limit of 256")
	_, doc := c.do("GET", "/v1/documents/"+bombDoc, key, nil)
	assert.Equal(t, "failed", doc["state"])
	assert.Contains(t, doc["error"], "too complex")

	// Still healthy: running, ready, its peak memory far below the
	// hundreds of MiB the bomb costs an unbounded parser, and ingesting.
	select {
	case <-worker.done:
		t.Fatalf("document-worker exited:\n%s", worker.tail(4096))
	default:
	}
	waitReady(t, "http://"+addr+"/readyz", worker)
	peak := peakRSS(t, worker)
	assert.Less(t, peak, int64(160<<20), "document-worker peak RSS %d MiB", peak>>20)
	t.Logf("document-worker peak RSS %d MiB", peak>>20)

	_, okJob := c.uploadOK(key, "fine.docx", extracttest.DOCX(t, "A normal document after the bomb."))
	job = c.waitState(key, okJob, "succeeded", testkit.Deadline)
	assert.Equal(t, float64(1), job["result"].(map[string]any)["chunks"], job)
}

// peakRSS returns a process's peak resident set size (VmHWM).
func peakRSS(t *testing.T, p *proc) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}
