package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hopperq/hopper/pkg/testkit"
)

// sdkLang is one of the SDKs in sdk/: how to run its worker and client
// scripts (tools/e2e/testdata/sdk).
type sdkLang struct {
	name     string
	queue    string
	worker   []string // command line, relative to the repository root
	client   []string
	workflow []string
}

var (
	pythonSDK = sdkLang{name: "python", queue: "pysdk",
		worker:   []string{"python3", "tools/e2e/testdata/sdk/worker.py"},
		client:   []string{"python3", "tools/e2e/testdata/sdk/client.py"},
		workflow: []string{"python3", "tools/e2e/testdata/sdk/workflow.py"}}
	typescriptSDK = sdkLang{name: "typescript", queue: "tssdk",
		worker:   []string{"node", "tools/e2e/testdata/sdk/worker.mjs"},
		client:   []string{"node", "tools/e2e/testdata/sdk/client.mjs"},
		workflow: []string{"node", "tools/e2e/testdata/sdk/workflow.mjs"}}
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// sdkEnv is what the SDK scripts run with: the gateway's URL, the
// Python package on PYTHONPATH.
func sdkEnv(root, base string, extra ...string) []string {
	return append(append(os.Environ(), "HOPPER_URL="+base, "PYTHONPATH="+filepath.Join(root, "sdk", "python")), extra...)
}

// runSDKClient runs a client script (argv, then args) with an API key
// and returns what it printed; ok is false (and the test failed) when it
// exited non-zero. Safe from any goroutine.
func runSDKClient(t *testing.T, name string, argv []string, root, base, key string, args ...string) (out []byte, ok bool) {
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	cmd.Dir = root
	cmd.Env = sdkEnv(root, base, "HOPPER_API_KEY="+key)
	out, err := cmd.Output()
	stderr := ""
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		stderr = string(ee.Stderr)
	}
	return out, assert.NoError(t, err, "%s: %s", name, stderr)
}

// sdkEvents are the "EV {json}" lines a worker script printed.
func sdkEvents(p *proc) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "EV "); ok {
			var ev map[string]any
			if json.Unmarshal([]byte(line), &ev) == nil {
				out = append(out, ev)
			}
		}
	}
	return out
}

// sdkEventsOf filters the events named event (of job id, if given).
func sdkEventsOf(p *proc, event, id string) []map[string]any {
	var out []map[string]any
	for _, ev := range sdkEvents(p) {
		if ev["event"] == event && (id == "" || ev["id"] == id) {
			out = append(out, ev)
		}
	}
	return out
}

// TestSDKLangUnits runs the SDKs' own unit tests: Python's unittest and
// the compiled TypeScript's node --test.
func TestSDKLangUnits(t *testing.T) {
	t.Parallel()
	root := repoRoot()
	requireTSBuilt(t, root)
	for _, tc := range []struct{ name, dir string }{
		{"python", "sdk/python"}, {"typescript", "sdk/typescript"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command("python3", "-m", "unittest", "discover", "-s", "tests")
			if tc.name == "typescript" {
				cmd = exec.Command("node", "--test", "test/sdk.test.mjs", "test/workflow.test.mjs")
			}
			cmd.Dir = filepath.Join(root, tc.dir)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

// TestSDKVersionsFollowTheAPI: both packages carry sdk/VERSION, whose
// major is the OpenAPI document's info.version.
func TestSDKVersionsFollowTheAPI(t *testing.T) {
	t.Parallel()
	root := repoRoot()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		require.NoError(t, err)
		return string(b)
	}
	version := strings.TrimSpace(read("sdk/VERSION"))
	major, _, _ := strings.Cut(version, ".")
	assert.Contains(t, read("docs/openapi.yaml"), "\n  version: \""+major+"\"\n", "sdk/VERSION's major is the API's")
	assert.Contains(t, read("sdk/python/pyproject.toml"), "\nversion = \""+version+"\"\n")
	assert.Contains(t, read("sdk/python/hopper_client/_version.py"), "__version__ = \""+version+"\"")
	var pkg struct{ Version string }
	require.NoError(t, json.Unmarshal([]byte(read("sdk/typescript/package.json")), &pkg))
	assert.Equal(t, version, pkg.Version)
	assert.Contains(t, read("sdk/typescript/src/version.ts"), "VERSION = \""+version+"\"")
}

func requireTSBuilt(t *testing.T, root string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, "sdk", "typescript", "dist", "src", "index.js")); err != nil {
		t.Fatalf("sdk/typescript is not built: run scripts/sdk.sh (make test does): %v", err)
	}
}

// TestSDKWorkers: a Python worker and a TypeScript worker, run with the
// machine's python3 and node from sdk/, each serve a kind of their own
// through the pull protocol, with a worker token made by hopperctl: a
// graceful stop on SIGTERM; a backlog claimed in priority order; progress
// and output chunks received in order by a Python and a TypeScript
// client; a workflow built by each client's builder whose fan-in step
// reads its parents' results through the worker SDK; a cancel seen by the running handler (the job ends cancelled);
// a kill -9 mid-job, after which the job runs again under its lease on a
// restarted worker and succeeds once; a revoked token stops the worker.
func TestSDKWorkers(t *testing.T) {
	t.Parallel()
	root := repoRoot()
	requireTSBuilt(t, root)
	e := newEnv(t)
	api := freeAddr(t)
	gw := start(t, "gateway", e, env{"HOPPER_HTTP_ADDR": api, "HOPPER_DISPATCH_INTERVAL": "200ms"})
	waitReady(t, "http://"+api+"/readyz", gw)
	c := &client{t: t, base: "http://" + api, http: &http.Client{Timeout: 30 * time.Second}}
	key := newKey(t, c, e)
	for _, l := range []sdkLang{pythonSDK, typescriptSDK} {
		t.Run(l.name, func(t *testing.T) {
			t.Parallel()
			started := time.Now()
			testSDKWorker(t, l, root, c, key, e["HOPPER_ADMIN_TOKEN"])
			t.Logf("%s: %s", l.name, time.Since(started).Round(time.Millisecond))
		})
	}
}

func testSDKWorker(t *testing.T, l sdkLang, root string, c *client, key, admin string) {
	kind := l.queue + ".echo"
	out, err := hopperctl(t, c.base, admin, "-o", "json", "worker-tokens", "create", l.queue+"-worker", "-queues", l.queue, "-max-in-flight", "4")
	require.NoError(t, err, out)
	var tok struct{ ID, Token string }
	require.NoError(t, json.Unmarshal([]byte(out), &tok), out)
	startWorker := func(name string, env ...string) *proc {
		cmd := exec.Command(l.worker[0], l.worker[1:]...)
		cmd.Dir = root
		cmd.Env = sdkEnv(root, c.base, append([]string{"HOPPER_WORKER_TOKEN=" + tok.Token, "SDK_KIND=" + kind, "SDK_CONCURRENCY=1", "SDK_LEASE=2"}, env...)...)
		p := startCmd(t, l.name+"-"+name, cmd)
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			select {
			case <-p.done:
				t.Fatalf("%s exited:\n%s", p.name, p.tail(4096))
			default:
			}
			return strings.Contains(p.output(), "worker started")
		}, "%s registered and claiming", p.name)
		return p
	}
	waitEvent := func(p *proc, event, id string) map[string]any {
		var evs []map[string]any
		testkit.WaitFor(t, testkit.Deadline, func() bool {
			evs = sdkEventsOf(p, event, id)
			return len(evs) > 0
		}, "%s: event %s of %s", p.name, event, id)
		return evs[0]
	}

	// The kind is registered by the worker; SIGTERM stops it gracefully.
	first := startWorker("first")
	var k map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		var code int
		code, k = c.do("GET", "/v1/kinds/"+kind, key, nil)
		return code == 200
	}, "%s in the catalogue", kind)
	require.Equal(t, l.queue, k["queue"])
	// The process is a live worker of its own (Hopper-Worker-Instance: host-pid).
	instance := fmt.Sprintf("pull:%s/", tok.ID)
	suffix := fmt.Sprintf("-%d", first.cmd.Process.Pid)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		code, w := c.do("GET", "/v1/workers", admin, nil)
		require.Equal(t, 200, code, w)
		for _, raw := range w["workers"].([]any) {
			id, _ := raw.(map[string]any)["id"].(string)
			if strings.HasPrefix(id, instance) && strings.HasSuffix(id, suffix) {
				return true
			}
		}
		return false
	}, "%s listed as a worker instance", first.name)
	first.stop(t)
	require.Equal(t, 0, first.cmd.ProcessState.ExitCode(), first.output())
	require.NotEmpty(t, sdkEventsOf(first, "stopped", ""), "run() returned after SIGTERM: %s", first.tail(2048))

	// A backlog waits in RabbitMQ; one slot claims it highest priority first.
	prios := []int{1, 3, 5, 0, 4, 2}
	ids := map[string]bool{}
	for _, p := range prios {
		ids[submitOK(t, c, key, map[string]any{"kind": kind, "priority": p, "payload": map[string]any{"mode": "record"}})] = true
	}
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		_, q := c.do("GET", "/v1/queues", admin, nil)
		qs, _ := q["queues"].([]any)
		for _, e := range qs {
			if m := e.(map[string]any); m["name"] == l.queue && m["ready"] != nil {
				return int(m["ready"].(float64)) == len(prios)
			}
		}
		return false
	}, "the backlog in RabbitMQ")
	w := startWorker("main")
	var order []int
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		order = order[:0]
		for _, ev := range sdkEventsOf(w, "started", "") {
			if ids[ev["id"].(string)] {
				order = append(order, int(ev["priority"].(float64)))
			}
		}
		return len(order) == len(prios)
	}, "the backlog run")
	want := slices.Clone(prios)
	sort.Sort(sort.Reverse(sort.IntSlice(want)))
	require.Equal(t, want, order, "highest priority first")
	for id := range ids {
		waitJob(t, c, key, id, "succeeded")
	}

	// Progress and output, followed by a client in each language.
	chunks := make([]string, 40)
	for i := range chunks {
		chunks[i] = fmt.Sprintf("%s-%02d ", l.name, i)
	}
	rawChunks, err := json.Marshal(chunks)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, cl := range []sdkLang{pythonSDK, typescriptSDK} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw, ok := runSDKClient(t, cl.name+" client", cl.client, root, c.base, key, kind, string(rawChunks))
			if !ok {
				return
			}
			var got struct {
				ID            string
				Seqs          []int
				Texts         []string
				AsyncTexts    []string `json:"async_texts"`
				Events        []string
				State         string
				Progress      int
				StatusMessage string `json:"status_message"`
				Result        map[string]any
				Text          string
				Listed        bool
			}
			if !assert.NoError(t, json.Unmarshal(raw, &got), "%s client: %s", cl.name, raw) {
				return
			}
			assert.Equal(t, chunks, got.Texts, "%s client: every chunk, in order", cl.name)
			assert.Equal(t, chunks, got.AsyncTexts, "%s client: every chunk again", cl.name)
			for i, s := range got.Seqs {
				assert.Equal(t, i+1, s, "%s client: sequence numbers", cl.name)
			}
			assert.Equal(t, "succeeded", got.State)
			assert.Equal(t, 100, got.Progress)
			assert.Equal(t, "done", got.StatusMessage)
			assert.Equal(t, float64(len(chunks)), got.Result["chunks"])
			assert.Equal(t, strings.Join(chunks, ""), got.Text)
			assert.True(t, got.Listed, "%s client: list finds the job", cl.name)
			assert.Equal(t, "succeeded", got.Events[len(got.Events)-1], "%s client: events end with the terminal one: %v", cl.name, got.Events)
			assert.Contains(t, got.Events, "started")
		}()
	}
	wg.Wait()

	// A workflow built in each language's client runs on this worker.
	started := time.Now()
	workflowIDs := make([]string, 2)
	for i, cl := range []sdkLang{pythonSDK, typescriptSDK} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			workflowIDs[i] = testSDKWorkflow(t, cl, root, c, key, kind)
		}()
	}
	wg.Wait()
	for _, id := range workflowIDs {
		if id != "" {
			checkSDKWorkflowJobs(t, w, id)
		}
	}
	t.Logf("%s worker: a diamond with a fan-out of %d from each client: %s", l.name, sdkFanOut, time.Since(started).Round(time.Millisecond))

	// Cancel of a running job: the handler sees it on a heartbeat, and
	// its next progress call raises.
	id := submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"mode": "block"}})
	waitEvent(w, "started", id)
	code, out2 := c.do("DELETE", "/v1/jobs/"+id, key, nil)
	require.Equal(t, 202, code, out2)
	job := waitJob(t, c, key, id, "cancelled")
	waitEvent(w, "cancel_seen", id)
	waitEvent(w, "cancel_raised", id)
	require.Equal(t, 1, countEvents(job, "started"))

	// kill -9 mid-job: the lease (2 s) runs out, the reaper retries the
	// job, and a restarted worker runs attempt 2 once.
	id = submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"mode": "crash_once"}})
	ev := waitEvent(w, "started", id)
	require.Equal(t, float64(1), ev["attempt"])
	killedAt := time.Now()
	w.kill(t)
	again := startWorker("restarted")
	job = waitJob(t, c, key, id, "succeeded")
	t.Logf("%s: kill -9 to attempt 2 succeeded: %s", l.name, time.Since(killedAt).Round(time.Millisecond))
	require.Equal(t, float64(2), job["attempts"])
	require.Equal(t, float64(2), job["result"].(map[string]any)["attempt"])
	require.Equal(t, 1, countEvents(job, "succeeded"), "one effective run")
	require.Equal(t, 1, countEvents(job, "lease_expired"))
	require.Len(t, sdkEventsOf(again, "started", id), 1, "attempt 2 ran once")

	// A stopping worker hands a job still running after its grace period
	// back uncharged (release): another worker runs the same attempt.
	again.stop(t)
	holder := startWorker("holder", "SDK_GRACE=0.5")
	id = submitOK(t, c, key, map[string]any{"kind": kind, "payload": map[string]any{"mode": "hold"}})
	waitEvent(holder, "started", id)
	holder.stop(t)
	require.Equal(t, 0, holder.cmd.ProcessState.ExitCode(), holder.tail(2048))
	job = waitJob(t, c, key, id, "queued")
	require.Equal(t, 1, countEvents(job, "released"), "handed back with release, not retry")
	again = startWorker("after-release", "SDK_NO_HOLD=1")
	job = waitJob(t, c, key, id, "succeeded")
	require.Equal(t, float64(1), job["attempts"], "the release was not charged")
	require.Equal(t, float64(1), job["result"].(map[string]any)["attempt"])

	// The token is listed; revoked, its worker's next claim is refused
	// and the worker stops.
	out, err = hopperctl(t, c.base, admin, "worker-tokens", "list")
	require.NoError(t, err, out)
	require.Contains(t, out, l.queue+"-worker")
	out, err = hopperctl(t, c.base, admin, "worker-tokens", "revoke", tok.ID)
	require.NoError(t, err, out)
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		select {
		case <-again.done:
			return true
		default:
			return false
		}
	}, "the worker to stop once its token was revoked")
	require.NotEmpty(t, sdkEventsOf(again, "stopped", ""), again.tail(2048))
}

// sdkFanOut is the width of the SDK workflow's fan-out.
const sdkFanOut = 5

// testSDKWorkflow runs cl's workflow script against worker w of kind:
// a diamond numbers → squares (a fan-out over the numbers) and numbers →
// const, both → sum, which reads its parents' results through the
// worker SDK. The script checks a mistake is caught before sending,
// follows the workflow's events to the end and prints what it saw. It
// returns the workflow's id ("" when the script failed).
func testSDKWorkflow(t *testing.T, cl sdkLang, root string, c *client, key, kind string) string {
	raw, ok := runSDKClient(t, cl.name+" workflow client", cl.workflow, root, c.base, key, kind, fmt.Sprint(sdkFanOut))
	if !ok {
		return ""
	}
	type stepOut struct {
		State  string
		Jobs   int
		Result json.RawMessage
	}
	var got struct {
		ID         string
		LocalError string `json:"local_error"`
		Events     []struct {
			Type  string
			State string
			Steps map[string]string
		}
		State      string
		AsyncState string `json:"async_state"`
		Listed     bool
		Steps      map[string]stepOut
	}
	if !assert.NoError(t, json.Unmarshal(raw, &got), "%s workflow client: %s", cl.name, raw) {
		return ""
	}
	who := cl.name + " workflow client"
	assert.Contains(t, got.LocalError, "nope", "%s: an unknown dependency is refused before sending", who)
	assert.Contains(t, got.LocalError, "not a step", who)
	assert.Equal(t, "succeeded", got.State, who)
	assert.Equal(t, "succeeded", got.AsyncState, who)
	assert.True(t, got.Listed, "%s: listed among the succeeded workflows", who)
	for _, name := range []string{"numbers", "squares", "const", "sum"} {
		assert.Equal(t, "succeeded", got.Steps[name].State, "%s: step %s", who, name)
	}
	assert.Equal(t, sdkFanOut, got.Steps["squares"].Jobs, "%s: one job per element", who)
	squares, want := make([]int, sdkFanOut), 1000
	for i := range squares {
		squares[i] = (i + 1) * (i + 1)
		want += squares[i]
	}
	var sum struct {
		Sum     int
		Parents []string
		Squares []int
	}
	if assert.NoError(t, json.Unmarshal(got.Steps["sum"].Result, &sum), "%s: %s", who, got.Steps["sum"].Result) {
		assert.Equal(t, want, sum.Sum, "%s: the fan-in summed its parents' results", who)
		assert.Equal(t, []string{"const", "squares"}, sum.Parents, who)
		assert.Equal(t, squares, sum.Squares, "%s: a fan-out parent's results in element order", who)
	}

	// The events: a snapshot, then changes, the last the workflow's end.
	evs := got.Events
	if assert.NotEmpty(t, evs, who) {
		assert.Equal(t, "snapshot", evs[0].Type, "%s: the stream starts with a snapshot: %+v", who, evs)
		last := evs[len(evs)-1]
		assert.Equal(t, "workflow", last.Type, "%s: %+v", who, evs)
		assert.Equal(t, "succeeded", last.State, who)
		sumDone := -1
		for i, ev := range evs[:len(evs)-1] {
			if ev.Type == "workflow" {
				assert.Equal(t, "running", ev.State, "%s: only the last event ends the workflow", who)
			}
			if ev.Type == "step" && ev.Steps["sum"] == "succeeded" {
				sumDone = i
			}
		}
		assert.Positive(t, sumDone, "%s: the fan-in's success came as a step event before the end: %+v", who, evs)
	}

	return got.ID
}

// checkSDKWorkflowJobs: worker w ran each job of workflow id once, as a
// step of it, a fan-out element's element its payload's index.
func checkSDKWorkflowJobs(t *testing.T, w *proc, id string) {
	var steps []map[string]any
	testkit.WaitFor(t, testkit.Deadline, func() bool {
		steps = steps[:0]
		for _, ev := range sdkEventsOf(w, "wf_step", "") {
			if ev["workflow"] == id {
				steps = append(steps, ev)
			}
		}
		return len(steps) >= sdkFanOut+3
	}, "%s: the lines for every job of workflow %s (its lines may trail the answer)", w.name, id)
	elements := map[float64]bool{}
	for _, ev := range steps {
		if ev["step"] == "squares" {
			elements[ev["element"].(float64)] = true
			assert.Equal(t, ev["index"], ev["element"], "workflow %s", id)
		} else {
			assert.Nil(t, ev["element"], "workflow %s: step %v is not a fan-out", id, ev["step"])
		}
	}
	assert.Len(t, steps, sdkFanOut+3, "workflow %s: each job ran once", id)
	assert.Len(t, elements, sdkFanOut, "workflow %s: every element ran", id)
}
