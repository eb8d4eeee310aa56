package extract

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// pdfToolName names the program and the Debian package that ships it, for
// error messages.
const pdfToolName = "pdftotext (poppler-utils)"

// pdfStderrLimit bounds what is kept of pdftotext's diagnostics.
const pdfStderrLimit = 64 << 10

// pdfWaitDelay bounds how long Text waits for pdftotext's pipes after the
// process ended or was killed.
const pdfWaitDelay = 2 * time.Second

func (x Extractor) pdfToText() string {
	if x.PDFToText == "" {
		return "pdftotext"
	}
	return x.PDFToText
}

// CheckPDF reports whether pdftotext can be found, as ErrMissingTool when it
// cannot; a worker can call it at start to log a clear warning.
func (x Extractor) CheckPDF() error {
	if _, err := exec.LookPath(x.pdfToText()); err != nil {
		return ErrMissingTool{Tool: pdfToolName, Err: err}
	}
	return nil
}

// pdfText runs `pdftotext -layout -enc UTF-8 - -` with the PDF on stdin.
// Output over maxBytes stops the program and returns ErrTooLarge. pdftotext
// ends every page with a form feed: they give the page count and become
// paragraph breaks.
func (x Extractor) pdfText(ctx context.Context, r io.Reader, maxBytes int64) (Document, error) {
	bin, err := exec.LookPath(x.pdfToText())
	if err != nil {
		return Document{}, ErrMissingTool{Tool: pdfToolName, Err: err}
	}
	in := &countingReader{r: io.LimitReader(ctxReader{ctx: ctx, r: r}, maxBytes+1)}
	stdout := &limitedBuffer{limit: maxBytes, strict: true}
	stderr := &limitedBuffer{limit: pdfStderrLimit}

	cmd := exec.CommandContext(ctx, bin, "-layout", "-enc", "UTF-8", "-", "-")
	cmd.Stdin = in
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = pdfWaitDelay
	runErr := cmd.Run()

	switch {
	case ctx.Err() != nil:
		return Document{}, fmt.Errorf("extract pdf: %w", ctx.Err())
	case in.n > maxBytes:
		return Document{}, ErrTooLarge{What: "document", Limit: maxBytes}
	case stdout.overflow:
		return Document{}, ErrTooLarge{What: "extracted text", Limit: maxBytes}
	case in.n == 0:
		return Document{}, ErrCorrupt{Format: FormatPDF, Reason: "empty file"}
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return Document{}, fmt.Errorf("extract pdf: run %s: %w", bin, runErr)
	}
	diag := firstLine(stderr.buf.Bytes())
	if runErr != nil {
		reason := "pdftotext: " + diag
		if diag == "" {
			reason = "pdftotext " + runErr.Error()
		}
		return Document{}, ErrCorrupt{Format: FormatPDF, Reason: reason}
	}
	out := stdout.buf.String()
	pages := strings.Count(out, "\f")
	text := strings.TrimSpace(strings.ReplaceAll(out, "\f", "\n\n"))
	if text == "" && diag != "" {
		// pdftotext often exits 0 on a damaged file after printing errors,
		// with nothing to show for it.
		return Document{}, ErrCorrupt{Format: FormatPDF, Reason: "pdftotext: " + diag}
	}
	return Document{Text: text, Pages: pages}, nil
}

// firstLine returns the first non-blank line of b.
func firstLine(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			return line
		}
	}
	return ""
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
