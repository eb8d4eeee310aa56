package e2e

import (
	"context"
	"fmt"
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
	require.NoError(t, chromedp.Run(ctx, chromedp.Click(`#cancel`, chromedp.ByQuery)))
	require.NoError(t, waitJS(ctx, `(document.querySelector('#job h1 .state')||{dataset:{}}).dataset.state === 'cancelled'`, 10*time.Second))
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
}
