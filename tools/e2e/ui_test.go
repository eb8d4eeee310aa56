package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/jobs"
	"github.com/hopperq/hopper/pkg/store"
	"github.com/hopperq/hopper/pkg/testkit"
)

// artifactsDir is where browser tests save screenshots (git-ignored).
func artifactsDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "artifacts", "ui")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// browser starts headless Chromium (Debian's package; scripts/browser.sh
// installs it) with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (run scripts/browser.sh): %v", err)
	}
	// Not t.TempDir: Chromium's helpers may still write to the profile for
	// a moment after the browser closes, which would fail TempDir's check.
	profile, err := os.MkdirTemp("", "hopper-chromium-")
	require.NoError(t, err)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	})
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	require.NoError(t, chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)))
	path := filepath.Join(artifactsDir(t), name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

// consoleErrors collects what Chromium's console reports as an error on
// ctx's page from now on: failed requests (a 401 or 404 logs "Failed to
// load resource"), Content-Security-Policy violations, console.error and
// uncaught exceptions. The returned function reads what was collected.
func consoleErrors(ctx context.Context) func() []string {
	var (
		mu   sync.Mutex
		errs []string
	)
	add := func(s string) {
		mu.Lock()
		errs = append(errs, s)
		mu.Unlock()
	}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				add(fmt.Sprintf("%s: %s (%s)", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type == cdpruntime.APITypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value))
				}
				add("console.error: " + strings.Join(args, " "))
			}
		case *cdpruntime.EventExceptionThrown:
			add("exception: " + ev.ExceptionDetails.Error())
		}
	})
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// waitJS polls a JavaScript boolean expression until it holds.
func waitJS(ctx context.Context, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(expr, &ok)); err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", expr)
		}
		time.Sleep(100 * time.Millisecond) // polling the page, not a fixed wait
	}
}

// selectKind chooses kind in the submit form as a user would (the change
// event fills in the kind's defaults).
func selectKind(kind string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => { const s = document.querySelector('#new-kind');
		s.value = %q; s.dispatchEvent(new Event('change')); return s.value; })()`, kind), nil)
}

// TestDashboardInBrowser signs in, offers the catalogue's kinds in the
// submit form with their defaults and required payload fields, submits a
// job, watches its progress bar reach done without a reload, cancels a
// running job, and checks a user's view lacks another user's jobs — in
// real headless Chromium.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, alice := stackWithGateway(t, e, nil)
	bob := newUserKey(t, c, e)
	startWorker(t, e, nil)
	bobJob := c.submit(bob, map[string]any{"kind": "system.noop"})
	aliceJob := c.submit(alice, map[string]any{"kind": "system.noop"})

	// A kind a worker service published, with a schema.
	st, err := store.Open(t.Context(), e["HOPPER_DATABASE_URL"], store.Options{MaxOpenConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.PublishKinds(t.Context(), []jobs.Kind{{
		Name: "acme.resize", Queue: "acme", Service: "acme-worker", Description: "resize an image",
		DefaultPriority: 4, MaxAttempts: 3, Timeout: time.Minute, MaxTimeout: time.Minute,
		BackoffBase: time.Second, BackoffCap: time.Minute, Version: "v1",
		Schema: []byte(`{"type":"object","properties":{"url":{"type":"string"},"width":{"type":"integer"}},"required":["url","width"]}`),
	}}))
	testkit.WaitFor(t, 30*time.Second, func() bool {
		code, _ := c.do("GET", "/v1/kinds/acme.resize", alice, nil)
		return code == 200
	}, "the gateway accepts the published kind")

	ctx := browser(t)
	consoleLog := consoleErrors(ctx)
	// Before sign-in the page loads without a console error: it asks for
	// the session without a 401, finds its icon, breaks no CSP rule.
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Navigate(c.base+"/ui"),
		chromedp.WaitVisible(`#key`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `document.readyState === 'complete'`, 10*time.Second))
	assert.Empty(t, consoleLog(), "console errors before sign-in")
	// The admin token is not a browser credential.
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SendKeys(`#key`, e["HOPPER_ADMIN_TOKEN"], chromedp.ByQuery),
		chromedp.Click(`#login button[type=submit]`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `document.querySelector('#login-error').textContent.includes("admin user's API key")`, 10*time.Second))
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Navigate(c.base+"/ui"),
		chromedp.WaitVisible(`#key`, chromedp.ByQuery),
	))
	before := len(consoleLog()) // the refused sign-in's 403 is logged, rightly
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SendKeys(`#key`, alice, chromedp.ByQuery),
		chromedp.Click(`#login button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#submit-form`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, fmt.Sprintf(`!!document.querySelector('[data-job="%s"]')`, aliceJob), 30*time.Second))
	// Signed in, and after a reload with the session: still no error
	// (the jobs list draws progress bars, which the CSP once blocked).
	require.NoError(t, chromedp.Run(ctx, chromedp.Reload(), chromedp.WaitVisible(`#submit-form`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, fmt.Sprintf(`!!document.querySelector('[data-job="%s"] [role=progressbar]')`, aliceJob), 30*time.Second))
	var cookieVisible bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`document.cookie.includes('hopper_session')`, &cookieVisible)))
	assert.False(t, cookieVisible, "the session cookie is HttpOnly")
	assert.Empty(t, consoleLog()[before:], "console errors after sign-in")
	var hasBob bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`!!document.querySelector('[data-job="%s"]')`, bobJob), &hasBob)))
	assert.False(t, hasBob, "alice's dashboard must not show bob's job")
	screenshot(t, ctx, "01-jobs.png")

	// The form's kinds come from GET /v1/kinds, those alice may submit
	// (no internal or admin kinds): choosing one sets its
	// default priority, shows its description and required fields, and
	// prefills them; the schema's refusal is shown.
	require.NoError(t, waitJS(ctx, `[...document.querySelectorAll('#new-kind option')].map(o => o.value).join() ===
		[...document.querySelectorAll('#new-kind option')].map(o => o.value).sort().join() &&
		['acme.resize', 'system.sleep', 'system.noop', 'maintenance.report'].every(k => document.querySelector('#new-kind option[value="' + k + '"]')) &&
		!['maintenance.webhook', 'maintenance.cleanup', 'document.ingest'].some(k => document.querySelector('#new-kind option[value="' + k + '"]'))`, 10*time.Second))
	var hint, prio, payload string
	require.NoError(t, chromedp.Run(ctx,
		selectKind("acme.resize"),
		chromedp.Text(`#kind-hint`, &hint, chromedp.ByQuery),
		chromedp.Value(`#new-priority`, &prio, chromedp.ByQuery),
		chromedp.Value(`#new-payload`, &payload, chromedp.ByQuery),
	))
	assert.Equal(t, "resize an image · required payload fields: url, width", hint)
	assert.Equal(t, "4", prio)
	assert.JSONEq(t, `{"url": "", "width": 0}`, payload)
	screenshot(t, ctx, "01b-submit-form.png")
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SetValue(`#new-payload`, `{"url": "https://example.com/a.png"}`, chromedp.ByQuery),
		chromedp.Click(`#submit-job`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `document.querySelector('#submit-error').textContent.includes('payload.width')`, 10*time.Second))
	require.NoError(t, chromedp.Run(ctx,
		selectKind("system.sleep"),
		chromedp.Text(`#kind-hint`, &hint, chromedp.ByQuery),
		chromedp.Value(`#new-priority`, &prio, chromedp.ByQuery),
	))
	assert.Equal(t, "sleeps payload.ms milliseconds, reporting progress (tests) · no required payload fields", hint, "the kind's description, then its required fields")
	assert.Equal(t, "3", prio, "system.sleep's default priority, normal")

	// Submit through the form and watch the progress bar, without reload.
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`window.__noReload = true`, nil),
		chromedp.SetValue(`#new-payload`, `{"ms": 3000}`, chromedp.ByQuery),
		chromedp.Click(`#submit-job`, chromedp.ByQuery),
		chromedp.WaitVisible(`#job-id`, chromedp.ByQuery),
	))
	seen := map[string]bool{}
	streaming := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pct, state string
		var open bool
		require.NoError(t, chromedp.Run(ctx,
			chromedp.Evaluate(`(document.querySelector('#job [role=progressbar]')||{getAttribute:()=>''}).getAttribute('aria-valuenow')`, &pct),
			chromedp.Evaluate(`(document.querySelector('#job h1 .state')||{dataset:{}}).dataset.state || ''`, &state),
			chromedp.Evaluate(`stream !== null && stream.readyState === EventSource.OPEN`, &open),
		))
		seen[pct] = true
		streaming = streaming || open
		if state == "succeeded" {
			break
		}
		require.True(t, time.Now().Before(deadline), "job did not finish in the browser; progress seen %v", seen)
		time.Sleep(100 * time.Millisecond) // sampling the page
	}
	var intermediate bool
	for p := range seen {
		if p != "" && p != "0" && p != "100" {
			intermediate = true
		}
	}
	assert.True(t, intermediate, "the progress bar moved through intermediate values: %v", seen)
	assert.True(t, streaming, "the job page follows the job's Server-Sent Events stream")
	var noReload bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`window.__noReload === true`, &noReload)))
	assert.True(t, noReload, "the page was not reloaded")
	screenshot(t, ctx, "02-job-succeeded.png")

	// Cancel a running job from its page.
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`location.hash = '#/jobs'`, nil),
		chromedp.WaitVisible(`#submit-form`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `!!document.querySelector('#new-kind option[value="system.sleep"]')`, 10*time.Second))
	require.NoError(t, chromedp.Run(ctx,
		selectKind("system.sleep"),
		chromedp.SetValue(`#new-payload`, `{"ms": 30000}`, chromedp.ByQuery),
		chromedp.Click(`#submit-job`, chromedp.ByQuery),
		chromedp.WaitVisible(`#job-id`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `(document.querySelector('#job h1 .state')||{dataset:{}}).dataset.state === 'running'`, 30*time.Second))
	// A running job shows its (empty) output; once over without output,
	// the panel goes.
	require.NoError(t, waitJS(ctx, `!document.querySelector('#job-output-panel').hidden && document.querySelector('#job-output').textContent === ''`, 5*time.Second))
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(`#cancel`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, `(document.querySelector('#job h1 .state')||{dataset:{}}).dataset.state === 'cancelled'`, 10*time.Second))
	require.NoError(t, waitJS(ctx, `document.querySelector('#job-output-panel').hidden`, 5*time.Second))
	var errText string
	require.NoError(t, chromedp.Run(ctx, chromedp.Text(`#job-error`, &errText, chromedp.ByQuery)))
	assert.Contains(t, errText, "interrupted", "the cancelled job shows why")
	screenshot(t, ctx, "03-job-cancelled.png")

	// The queues page lists the standard queues with their depth.
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`location.hash = '#/queues'`, nil)))
	require.NoError(t, waitJS(ctx, `[...document.querySelectorAll('main td')].some(td => td.textContent === 'maintenance')`, 10*time.Second))
	screenshot(t, ctx, "04-queues.png")

	// A workflow's page draws its graph and follows it live: the first
	// step runs, then every node turns succeeded, without a reload and
	// within the page's Content-Security-Policy.
	code, acc := c.do("POST", "/v1/workflows", alice, map[string]any{"name": "browser diamond", "steps": []map[string]any{
		{"name": "A", "kind": "system.sleep", "payload": map[string]any{"ms": 2500}},
		{"name": "fan", "kind": "system.noop", "depends_on": []string{"A"}, "for_each": []int{1, 2, 3}},
		{"name": "C", "kind": "system.noop", "depends_on": []string{"A"}},
		{"name": "D", "kind": "system.noop", "depends_on": []string{"fan", "C"}},
	}})
	require.Equal(t, 202, code, acc)
	wf := acc["id"].(string)
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => __csp.push(e.violatedDirective)); true`, nil),
		chromedp.Evaluate(`location.hash = '#/workflows'`, nil),
	))
	require.NoError(t, waitJS(ctx, fmt.Sprintf(`!!document.querySelector('[data-workflow="%s"] a')`, wf), 10*time.Second))
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(fmt.Sprintf(`[data-workflow="%s"] a`, wf), chromedp.ByQuery)))
	node := func(step string) string {
		return fmt.Sprintf(`(document.querySelector('#wf-graph g[data-step="%s"]')||{dataset:{}}).dataset.state`, step)
	}
	require.NoError(t, waitJS(ctx, node("A")+` === 'running' && `+node("D")+` === 'waiting'`, 10*time.Second))
	var edges int
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelectorAll('#wf-graph path.edge').length`, &edges),
		chromedp.Evaluate(`stream !== null && stream.url.endsWith('/v1/workflows/`+wf+`/events')`, &streaming),
	))
	assert.Equal(t, 4, edges, "A→fan, A→C, fan→D, C→D")
	assert.True(t, streaming, "the workflow page follows the workflow's event stream")
	screenshot(t, ctx, "05-workflow-running.png")
	defer func() {
		if t.Failed() {
			var page string
			_ = chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll('#wf-graph g')].map(g => g.dataset.step + '=' + g.dataset.state).join(' ') + ' stream=' + (stream && stream.readyState)`, &page))
			_, w := c.do("GET", "/v1/workflows/"+wf, alice, nil)
			t.Logf("page: %s; API: %v", page, w["state"])
		}
	}()
	require.NoError(t, waitJS(ctx, `['A', 'fan', 'C', 'D'].every((n) => (document.querySelector('#wf-graph g[data-step="' + n + '"]')||{dataset:{}}).dataset.state === 'succeeded') &&
		document.querySelector('#workflow h1').dataset.state === 'succeeded'`, 30*time.Second))
	var fanText string
	var violations []string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`document.querySelector('#wf-graph g[data-step="fan"] text.count').textContent`, &fanText),
		chromedp.Evaluate(`window.__csp`, &violations),
		chromedp.Evaluate(`window.__noReload === true`, &noReload),
	))
	assert.Equal(t, "3/3 (fan-out ×3)", fanText)
	assert.Empty(t, violations, "no Content-Security-Policy violation")
	assert.True(t, noReload, "the page was not reloaded")
	screenshot(t, ctx, "06-workflow-succeeded.png")

	adminPages(t, ctx, c, e, consoleLog)
}

// rowCells is the text of each cell of the table row sel.
func rowCells(t *testing.T, ctx context.Context, sel string) []string {
	t.Helper()
	var cells []string
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`[...document.querySelector(%q).cells].map((td) => td.textContent)`, sel), &cells)))
	return cells
}

// cutProxy forwards TCP connections to target until cut closes the open
// ones (a dropped network, as a browser sees it); it goes on accepting.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// adminPages signs in as an admin user and, through the forms: declares
// a push kind (a refused target's error shown; its secret shown once),
// edits it, rotates its secret and deletes it; issues a worker token
// (shown once) for a pull worker the test runs over HTTP, whose job page
// shows the output chunks as the worker appends them, then the whole text
// after the job ended; and revokes the token.
func adminPages(t *testing.T, ctx context.Context, c *client, e env, consoleLog func() []string) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute) // fail fast when a wait never ends
	defer cancel()
	var hidden bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('a[href="#/push-kinds"]').hidden`, &hidden)))
	assert.True(t, hidden, "the admin pages are not offered to a user")
	admin := newUserKeyWithEmail(t, c, e, "admin", testkit.UniqueName("ops")+"@example.com")
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Click(`#signout`, chromedp.ByQuery),
		chromedp.WaitVisible(`#key`, chromedp.ByQuery),
		chromedp.SendKeys(`#key`, admin, chromedp.ByQuery),
		chromedp.Click(`#login button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`a[href="#/push-kinds"]`, chromedp.ByQuery),
		chromedp.Click(`a[href="#/push-kinds"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#push-kind-form`, chromedp.ByQuery),
	))

	// Push kinds: the SSRF guard's refusal is shown in the form.
	pk := testkit.UniqueName("ui") + ".summarize"
	row := fmt.Sprintf(`tr[data-kind="%s"]`, pk)
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SetValue(`#pk-name`, pk, chromedp.ByQuery),
		chromedp.SetValue(`#pk-url`, "http://169.254.169.254/latest", chromedp.ByQuery),
		chromedp.Click(`#pk-submit`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `document.querySelector('#pk-form-error').textContent.startsWith('url:')`, 10*time.Second))
	before := len(consoleLog()) // the refused declaration's 422 is logged, rightly
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SetValue(`#pk-url`, "https://ml.example.com/summarize", chromedp.ByQuery),
		chromedp.SetValue(`#pk-description`, "summarize a text", chromedp.ByQuery),
		chromedp.SetValue(`#pk-timeout`, "30", chromedp.ByQuery),
		chromedp.SetValue(`#pk-attempts`, "4", chromedp.ByQuery),
		chromedp.SetValue(`#pk-concurrency`, "2", chromedp.ByQuery),
		chromedp.SetValue(`#pk-rate`, "5", chromedp.ByQuery),
		chromedp.SetValue(`#pk-schema`, `{"type": "object", "required": ["text"]}`, chromedp.ByQuery),
		chromedp.Click(`#pk-submit`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `!!document.querySelector('`+row+`') && (document.querySelector('#shown-secret')||{}).textContent.startsWith('pushsec_')`, 10*time.Second))
	var secret, note string
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Text(`#shown-secret`, &secret, chromedp.ByQuery),
		chromedp.Text(`#push-kind-once`, &note, chromedp.ByQuery),
	))
	assert.Contains(t, note, "not shown again")
	assert.Equal(t, []string{pk + "summarize a text", "https://ml.example.com/summarize", "push", "2", "5/s", "30 s", "4", "0", "1", "EditRotate secretDelete"},
		rowCells(t, ctx, row), "name, URL, queue, concurrency, rate, timeout, attempts, live workers, secrets")
	code, got := c.do("GET", "/v1/admin/push-kinds/"+pk, e["HOPPER_ADMIN_TOKEN"], nil)
	require.Equal(t, 200, code, got)
	assert.Equal(t, map[string]any{"type": "object", "required": []any{"text"}}, got["payload_schema"])
	screenshot(t, ctx, "07-push-kinds.png")

	// Edit: the form holds the kind's settings; a change is saved.
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(row+` [data-action=edit]`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, `document.querySelector('#pk-name').disabled && document.querySelector('#pk-concurrency').value === '2' &&
		JSON.parse(document.querySelector('#pk-schema').value).required[0] === 'text'`, 5*time.Second))
	require.NoError(t, chromedp.Run(ctx,
		chromedp.SetValue(`#pk-concurrency`, "3", chromedp.ByQuery),
		chromedp.Click(`#pk-submit`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `document.querySelector('`+row+`').cells[3].textContent === '3' && !document.querySelector('#pk-name').disabled`, 10*time.Second))
	// Rotate: a new secret, shown once; the old one signs on.
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(row+` [data-action=rotate]`, chromedp.ByQuery)))
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(row+` [data-confirm=rotate]`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, fmt.Sprintf(`document.querySelector('#shown-secret').textContent.startsWith('pushsec_') &&
		document.querySelector('#shown-secret').textContent !== %q && document.querySelector('%s').cells[8].textContent === '2'`, secret, row), 10*time.Second))
	// Delete, after a confirmation.
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(row+` [data-action=delete]`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, `document.querySelector('`+row+`').textContent.includes('Delete `+pk+`?')`, 5*time.Second))
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(row+` [data-confirm=delete]`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, `!document.querySelector('`+row+`')`, 10*time.Second))
	code, _ = c.do("GET", "/v1/admin/push-kinds/"+pk, e["HOPPER_ADMIN_TOKEN"], nil)
	assert.Equal(t, 404, code, "deleted")

	// Worker tokens: the token is shown once, the list holds its prefix.
	queue := testkit.UniqueName("uiq")
	name := "echo-" + queue[3:]
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Click(`a[href="#/worker-tokens"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#worker-token-form`, chromedp.ByQuery),
		chromedp.SetValue(`#wt-name`, name, chromedp.ByQuery),
		chromedp.SetValue(`#wt-queues`, queue, chromedp.ByQuery),
		chromedp.SetValue(`#wt-flight`, "4", chromedp.ByQuery),
		chromedp.Click(`#wt-submit`, chromedp.ByQuery),
	))
	tokRow := fmt.Sprintf(`tr[data-name="%s"]`, name)
	require.NoError(t, waitJS(ctx, `!!document.querySelector('`+tokRow+`') && (document.querySelector('#shown-token')||{}).textContent.startsWith('hwt_')`, 10*time.Second))
	var token string
	require.NoError(t, chromedp.Run(ctx, chromedp.Text(`#shown-token`, &token, chromedp.ByQuery)))
	cells := rowCells(t, ctx, tokRow)
	require.Len(t, cells, 6)
	assert.Equal(t, []string{name, queue, "4", "Revoke"}, []string{cells[0], cells[2], cells[3], cells[5]})
	assert.True(t, strings.HasPrefix(token, strings.TrimSuffix(cells[1], "…")), "the list shows the token's prefix: %s", cells[1])
	screenshot(t, ctx, "08-worker-token.png")
	var shownAgain bool
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`location.hash = '#/push-kinds'`, nil),
		chromedp.WaitVisible(`#push-kind-form`, chromedp.ByQuery),
		chromedp.Evaluate(`location.hash = '#/worker-tokens'`, nil),
		chromedp.WaitVisible(`#worker-token-form`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `!!document.querySelector('`+tokRow+`')`, 10*time.Second))
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(`document.body.textContent.includes(%q)`, token), &shownAgain)))
	assert.False(t, shownAgain, "the token is shown once")

	// A pull worker with that token runs a job and appends output; its
	// page shows each batch as it comes, then the whole text.
	kind := queue + ".echo"
	code, got = c.do("POST", "/v1/worker/kinds", token, map[string]any{"kinds": []any{map[string]any{"name": kind, "queue": queue}}})
	require.Equal(t, 200, code, got)
	id := c.submit(admin, map[string]any{"kind": kind, "payload": map[string]any{}})
	code, got = c.do("POST", "/v1/worker/claim", token, map[string]any{"wait_seconds": 10})
	require.Equal(t, 200, code, got)
	require.Equal(t, id, got["job"].(map[string]any)["id"])
	appendOutput := func(chunks ...string) {
		code, out := c.do("POST", "/v1/worker/jobs/"+id+"/output", token, map[string]any{"attempt": 1, "chunks": chunks})
		require.Equal(t, 200, code, out)
	}
	appendOutput("Hello", ", ")
	// The page is opened through a proxy that can drop its connections
	// (the session cookie holds: cookies ignore the port).
	proxy := newCutProxy(t, strings.TrimPrefix(c.base, "http://"))
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Navigate("http://"+proxy.addr()+"/ui#/jobs/"+id),
		chromedp.WaitVisible(`#job-id`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `document.querySelector('#job-output').textContent === 'Hello, ' && !document.querySelector('#job-output-panel').hidden`, 10*time.Second))
	posted := time.Now()
	appendOutput("wor")
	require.NoError(t, waitJS(ctx, `document.querySelector('#job-output').textContent === 'Hello, wor'`, 10*time.Second))
	t.Logf("a chunk on the page %s after its append (the page is polled every 100 ms)", time.Since(posted).Round(time.Millisecond))
	// The network drops; what the worker appends meanwhile arrives once
	// EventSource reconnected, with Last-Event-ID: once, not replayed.
	proxy.cut()
	var lines strings.Builder
	for i := range 60 {
		fmt.Fprintf(&lines, "\nline %d", i)
	}
	want := "Hello, world!" + lines.String()
	appendOutput("ld!", lines.String())
	cutAt := time.Now()
	require.NoError(t, waitJS(ctx, fmt.Sprintf(`document.querySelector('#job-output').textContent === %q`, want), 15*time.Second))
	t.Logf("output resumed %s after the drop (EventSource's reconnection delay)", time.Since(cutAt).Round(100*time.Millisecond))
	var live, followsEnd bool
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`outputStream !== null && outputStream.readyState === EventSource.OPEN && outputStream.url.endsWith('/v1/jobs/`+id+`/output')`, &live),
		chromedp.Evaluate(`(() => { const p = document.querySelector('#job-output');
			return p.scrollHeight > p.clientHeight && p.scrollHeight - p.scrollTop - p.clientHeight < 8; })()`, &followsEnd),
	))
	assert.True(t, live, "the job page follows the output stream")
	assert.True(t, followsEnd, "the output scrolls, and shows its end")
	screenshot(t, ctx, "09-job-output.png")
	code, got = c.do("POST", "/v1/worker/jobs/"+id+"/succeed", token, map[string]any{"attempt": 1, "result": map[string]any{"ok": true}})
	require.Equal(t, 200, code, got)
	require.NoError(t, waitJS(ctx, `(document.querySelector('#job h1 .state')||{dataset:{}}).dataset.state === 'succeeded' && outputStream === null`, 10*time.Second))
	// A finished job's page reads the whole text.
	require.NoError(t, chromedp.Run(ctx, chromedp.Reload(), chromedp.WaitVisible(`#job-id`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, fmt.Sprintf(`document.querySelector('#job-output').textContent === %q && !document.querySelector('#job-output-panel').hidden`, want), 10*time.Second))

	// Revoke the token, after a confirmation: its worker is refused.
	require.NoError(t, chromedp.Run(ctx,
		chromedp.Evaluate(`location.hash = '#/worker-tokens'`, nil),
		chromedp.WaitVisible(`#worker-token-form`, chromedp.ByQuery),
	))
	require.NoError(t, waitJS(ctx, `!!document.querySelector('`+tokRow+` [data-action=revoke]')`, 10*time.Second))
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(tokRow+` [data-action=revoke]`, chromedp.ByQuery)))
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(tokRow+` [data-confirm=revoke]`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, `document.querySelector('`+tokRow+`').classList.contains('revoked')`, 10*time.Second))
	code, _ = c.do("POST", "/v1/worker/claim", token, map[string]any{"wait_seconds": 0})
	assert.Equal(t, 401, code, "a revoked token is refused")
	// Chromium logs the streams the drop broke, rightly; nothing else.
	var errs []string
	for _, e := range consoleLog()[before:] {
		if !strings.Contains(e, "net::ERR_INCOMPLETE_CHUNKED_ENCODING (http://"+proxy.addr()+"/v1/jobs/"+id+"/") {
			errs = append(errs, e)
		}
	}
	assert.Empty(t, errs, "console errors on the admin pages and the output")
	t.Logf("admin pages and output: %s", time.Since(began).Round(100*time.Millisecond))
}
