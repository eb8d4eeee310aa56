package extract

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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

// pdftotext parses hostile bytes in C++, so it runs confined: without the
// worker's environment (which holds the database and AMQP URLs and the
// provider keys), under its own timeout, and, on Linux, with address-space
// and CPU-time limits and no core dumps. The defaults leave room for large
// real PDFs (a 500-page report takes a few seconds and under 200 MB).
const (
	DefaultPDFTimeout     = 2 * time.Minute
	DefaultPDFMemoryLimit = 1 << 30 // bytes of address space
	DefaultPDFCPULimit    = time.Minute
)

func (x Extractor) pdfToText() string {
	if x.PDFToText == "" {
		return "pdftotext"
	}
	return x.PDFToText
}

func (x Extractor) pdfTimeout() time.Duration {
	if x.PDFTimeout <= 0 {
		return DefaultPDFTimeout
	}
	return x.PDFTimeout
}

func (x Extractor) pdfMemoryLimit() int64 {
	if x.PDFMemoryLimit <= 0 {
		return DefaultPDFMemoryLimit
	}
	return x.PDFMemoryLimit
}

// pdfCPUSeconds is the CPU limit in whole seconds, at least one.
func (x Extractor) pdfCPUSeconds() int64 {
	d := x.PDFCPULimit
	if d <= 0 {
		d = DefaultPDFCPULimit
	}
	return max(int64((d+time.Second-1)/time.Second), 1)
}

// pdfEnv is pdftotext's whole environment: PATH (so the program runs as
// it would from a shell) and LANG=C. Nothing of the worker's leaks in.
func pdfEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LANG=C"}
}

// CheckPDF reports whether pdftotext can be found, as ErrMissingTool when it
// cannot; a worker can call it at start to log a clear warning.
func (x Extractor) CheckPDF() error {
	if _, err := exec.LookPath(x.pdfToText()); err != nil {
		return ErrMissingTool{Tool: pdfToolName, Err: err}
	}
	return nil
}

// pdfText runs `pdftotext -layout -enc UTF-8 - -` with the PDF on stdin,
// confined (see DefaultPDFTimeout). Output over maxBytes stops the program
// and returns ErrTooLarge; a run past the timeout or the CPU limit, or out
// of memory under the limit, returns ErrTooComplex. pdftotext ends every
// page with a form feed: they give the page count and become paragraph
// breaks.
func (x Extractor) pdfText(ctx context.Context, r io.Reader, maxBytes int64) (Document, error) {
	bin, err := exec.LookPath(x.pdfToText())
	if err != nil {
		return Document{}, ErrMissingTool{Tool: pdfToolName, Err: err}
	}
	runCtx, cancel := context.WithTimeout(ctx, x.pdfTimeout())
	defer cancel()
	in := &countingReader{r: io.LimitReader(ctxReader{ctx: runCtx, r: r}, maxBytes+1)}
	gate := &gatedReader{r: in, open: make(chan struct{})}
	stdout := &limitedBuffer{limit: maxBytes, strict: true}
	stderr := &limitedBuffer{limit: pdfStderrLimit}

	cmd := exec.CommandContext(runCtx, bin, "-layout", "-enc", "UTF-8", "-", "-")
	cmd.Env = pdfEnv()
	cmd.Stdin = gate
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = pdfWaitDelay
	if err := cmd.Start(); err != nil {
		return Document{}, fmt.Errorf("extract pdf: run %s: %w", bin, err)
	}
	// The limits are set before pdftotext reads a byte of the PDF: until
	// the gate opens it waits on stdin.
	if err := limitProcess(cmd.Process.Pid, uint64(x.pdfMemoryLimit()), uint64(x.pdfCPUSeconds())); err != nil {
		gate.fail(err)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return Document{}, fmt.Errorf("extract pdf: cannot limit %s's memory and CPU time: %w", bin, err)
	}
	gate.release()
	runErr := cmd.Wait()

	switch {
	case ctx.Err() != nil:
		return Document{}, fmt.Errorf("extract pdf: %w", ctx.Err())
	case runCtx.Err() != nil:
		return Document{}, ErrTooComplex{Format: FormatPDF, What: "pdftotext run time", Limit: x.pdfTimeout().Milliseconds(), Unit: "ms"}
	case in.n > maxBytes:
		return Document{}, ErrTooLarge{What: "document", Limit: maxBytes}
	case stdout.overflow:
		return Document{}, ErrTooLarge{What: "extracted text", Limit: maxBytes}
	case killedForCPU(runErr):
		return Document{}, ErrTooComplex{Format: FormatPDF, What: "pdftotext CPU time", Limit: x.pdfCPUSeconds(), Unit: "seconds"}
	case in.n == 0:
		return Document{}, ErrCorrupt{Format: FormatPDF, Reason: "empty file"}
	}
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return Document{}, fmt.Errorf("extract pdf: run %s: %w", bin, runErr)
	}
	diag := firstLine(stderr.buf.Bytes())
	if runErr != nil {
		if outOfMemory(stderr.buf.Bytes()) {
			return Document{}, ErrTooComplex{Format: FormatPDF, What: "pdftotext memory", Limit: x.pdfMemoryLimit(), Unit: "bytes of address space"}
		}
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

// outOfMemory reports whether pdftotext's diagnostics say an allocation
// failed: poppler's "Out of memory", or C++'s std::bad_alloc.
func outOfMemory(stderr []byte) bool {
	return bytes.Contains(stderr, []byte("Out of memory")) || bytes.Contains(stderr, []byte("bad_alloc"))
}

// gatedReader holds reads until release (or fail) is called, so a child
// process gets no input before its limits are set.
type gatedReader struct {
	r    io.Reader
	open chan struct{}
	err  error
}

func (g *gatedReader) release() { close(g.open) }

func (g *gatedReader) fail(err error) {
	g.err = err
	close(g.open)
}

func (g *gatedReader) Read(p []byte) (int, error) {
	<-g.open
	if g.err != nil {
		return 0, g.err
	}
	return g.r.Read(p)
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
