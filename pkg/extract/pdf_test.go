package extract_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/extract"
)

// script writes an executable shell script standing in for pdftotext.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-pdftotext")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

var fakePDF = []byte("%PDF-1.4\nnot really a PDF\n")

// TestPDFToTextConfined: pdftotext sees only PATH and LANG=C — none of
// the worker's secrets — and runs under the address-space and CPU limits,
// without core dumps. The program is a script printing what it got.
// Not parallel: it sets the parent's environment.
func TestPDFToTextConfined(t *testing.T) {
	t.Setenv("HOPPER_DATABASE_URL", "postgres://hopper:db-s3cret@db:5432/hopper")
	t.Setenv("HOPPER_AMQP_URL", "amqp://hopper:mq-s3cret@mq:5672/")
	t.Setenv("HOPPER_LLM_API_KEY", "sk-s3cret")
	t.Setenv("HOME", "/home/worker")
	x := extract.Extractor{
		PDFToText:      script(t, "cat >/dev/null\nenv\ncat /proc/self/limits"),
		PDFMemoryLimit: 512 << 20,
		PDFCPULimit:    7 * time.Second,
	}
	doc, err := x.Text(t.Context(), extract.FormatPDF, bytes.NewReader(fakePDF), 1<<20)
	require.NoError(t, err)
	out := doc.Text
	assert.Contains(t, out, "LANG=C\n")
	assert.Contains(t, out, "PATH="+os.Getenv("PATH")+"\n")
	assert.NotContains(t, out, "s3cret")
	assert.NotContains(t, out, "HOPPER_")
	assert.NotContains(t, out, "HOME=")
	for _, line := range strings.Split(out, "\n") {
		name, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "Max ") {
			continue
		}
		// The shell adds PWD (and some shells OLDPWD, SHLVL, _) itself.
		assert.Contains(t, []string{"PATH", "LANG", "PWD", "OLDPWD", "SHLVL", "_"}, name, "unexpected variable %q", line)
	}
	if runtime.GOOS != "linux" {
		return
	}
	limit := func(name string) (soft, hard string) {
		m := regexp.MustCompile(`(?m)^` + name + `\s+(\S+)\s+(\S+)`).FindStringSubmatch(out)
		require.NotNil(t, m, "%s in /proc/self/limits:\n%s", name, out)
		return m[1], m[2]
	}
	soft, hard := limit("Max address space")
	assert.Equal(t, strconv.Itoa(512<<20), soft)
	assert.Equal(t, strconv.Itoa(512<<20), hard)
	soft, hard = limit("Max cpu time")
	assert.Equal(t, "7", soft)
	assert.Equal(t, "8", hard, "SIGXCPU a second before SIGKILL")
	soft, _ = limit("Max core file size")
	assert.Equal(t, "0", soft)
}

// TestPDFToTextTimeout: a pdftotext running past its timeout is killed
// and the extraction fails at once with a permanent, clear error.
func TestPDFToTextTimeout(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	x := extract.Extractor{PDFToText: script(t, "echo $$ > "+pidFile+"\nexec sleep 60"), PDFTimeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := x.Text(t.Context(), extract.FormatPDF, bytes.NewReader(fakePDF), 1<<20)
	elapsed := time.Since(start)
	var tc extract.ErrTooComplex
	require.True(t, errors.As(err, &tc), "want ErrTooComplex, got %T: %v", err, err)
	assert.Equal(t, "extract: pdf too complex: pdftotext run time over the limit of 300 ms (refused as a possible parser bomb)", err.Error())
	assert.True(t, extract.IsPermanent(err))
	assert.Less(t, elapsed, 5*time.Second, "killed, not waited for")

	raw, rerr := os.ReadFile(pidFile)
	require.NoError(t, rerr)
	pid, perr := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, perr)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "process %d is gone", pid)
}

// TestPDFToTextCPULimit: a pdftotext spinning past its CPU limit is
// killed by SIGXCPU and the extraction fails with a permanent error naming
// the limit.
func TestPDFToTextCPULimit(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("rlimits are set on Linux only")
	}
	x := extract.Extractor{PDFToText: script(t, "cat >/dev/null\nwhile :; do :; done"), PDFCPULimit: time.Second, PDFTimeout: time.Minute}
	_, err := x.Text(t.Context(), extract.FormatPDF, bytes.NewReader(fakePDF), 1<<20)
	var tc extract.ErrTooComplex
	require.True(t, errors.As(err, &tc), "want ErrTooComplex, got %T: %v", err, err)
	assert.Equal(t, "extract: pdf too complex: pdftotext CPU time over the limit of 1 seconds (refused as a possible parser bomb)", err.Error())
	assert.True(t, extract.IsPermanent(err))
}

// TestPDFToTextOutOfMemory: pdftotext failing an allocation under its
// memory limit (C++ std::bad_alloc, then abort) is reported as too complex
// for that limit, not as a corrupt file.
func TestPDFToTextOutOfMemory(t *testing.T) {
	t.Parallel()
	x := extract.Extractor{
		PDFToText:      script(t, "cat >/dev/null\necho \"terminate called after throwing an instance of 'std::bad_alloc'\" >&2\nkill -ABRT $$"),
		PDFMemoryLimit: 64 << 20,
	}
	_, err := x.Text(t.Context(), extract.FormatPDF, bytes.NewReader(fakePDF), 1<<20)
	var tc extract.ErrTooComplex
	require.True(t, errors.As(err, &tc), "want ErrTooComplex, got %T: %v", err, err)
	assert.Equal(t, "extract: pdf too complex: pdftotext memory over the limit of 67108864 bytes of address space (refused as a possible parser bomb)", err.Error())
}
