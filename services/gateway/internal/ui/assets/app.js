// Hopper dashboard: a small single-page app over the /v1 API. It signs in
// by posting an API key to /ui/session, which opens a server-side session
// (an HttpOnly cookie holds its random id, never the key), and sends
// X-Hopper-CSRF on every request that changes something.
"use strict";

const main = document.getElementById("main");
let me = null;       // {email, role, admin}
let timer = null;    // the current view's refresh timer

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-Hopper-CSRF": "1" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const err = new Error(data && data.error ? data.error.message : resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

// The API's names of priorities 1, 3 and 5; the others are numbers.
const priorityNames = ["0", "1 (low)", "2", "3 (normal)", "4", "5 (high)"];

// requiredFields lists the top-level fields a payload JSON Schema requires.
function requiredFields(schema) {
  return schema && Array.isArray(schema.required) ? schema.required.map(String) : [];
}

// payloadSkeleton is a payload with each required field set to an empty
// value of its schema type, for the user to fill in.
function payloadSkeleton(schema, required) {
  const empty = { string: "", integer: 0, number: 0, boolean: false, array: [], object: {} };
  const props = (schema && schema.properties) || {};
  const out = {};
  for (const f of required) {
    const t = props[f] && props[f].type;
    out[f] = Object.prototype.hasOwnProperty.call(empty, t) ? empty[t] : null;
  }
  return JSON.stringify(out);
}

function stateBadge(s) { return h("span", { class: "state " + s, "data-state": s }, s); }
// bar's width is set through the CSSOM: the page's CSP (style-src 'self')
// blocks style attributes, not element.style.
function bar(pct, big) {
  const fill = h("span");
  fill.style.width = pct + "%";
  return h("span", { class: big ? "bar big" : "bar", role: "progressbar", "aria-valuenow": pct }, fill);
}
function fmtTime(t) { return t ? new Date(t).toLocaleString() : "—"; }
function terminal(s) { return s === "succeeded" || s === "failed" || s === "cancelled"; }

function every(ms, fn) {
  clearInterval(timer);
  stopStream();
  fn();
  timer = setInterval(fn, ms);
}

// --- sign in ---

function loginView(message) {
  clearInterval(timer);
  stopStream();
  document.getElementById("nav").hidden = true;
  const key = h("input", { id: "key", type: "password", placeholder: "hop_… (an admin signs in with an admin user's key)", size: 50, autocomplete: "off" });
  const err = h("p", { class: "error", id: "login-error" }, message || "");
  const form = h("form", { class: "card", id: "login", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("POST", "/ui/session", { key: key.value });
      await start();
    } catch (ex) {
      err.textContent = ex.message;
    }
  } }, h("h1", {}, "Sign in"), h("div", { class: "row" }, h("label", {}, "API key", key), h("button", { type: "submit" }, "Sign in")), err);
  main.replaceChildren(form);
}

// --- jobs ---

async function jobsView() {
  const state = h("select", { id: "filter-state" }, h("option", { value: "" }, "any state"),
    ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"].map((s) => h("option", { value: s }, s)));
  const kind = h("input", { id: "filter-kind", placeholder: "kind" });
  const tbody = h("tbody", { id: "jobs" });
  const charts = h("div", { class: "charts" }, h("div", {}, h("h2", {}, "Throughput (jobs/min, last hour)"), svgEl("chart-throughput")),
    h("div", {}, h("h2", {}, "Failure rate % (last hour)"), svgEl("chart-failures")));

  // The submit form offers the kinds the user may submit (GET /v1/kinds):
  // choosing one sets its default priority, says what it is and which
  // payload fields its schema requires, and prefills those fields until
  // the payload is edited by hand.
  const newKind = h("select", { id: "new-kind" });
  const hint = h("p", { class: "muted hint", id: "kind-hint" });
  const payload = h("input", { id: "new-payload", value: "{}", size: 30 });
  const prio = h("select", { id: "new-priority" }, priorityNames.map((name, p) => h("option", { value: String(p) }, name)));
  const submitErr = h("span", { class: "error", id: "submit-error" });
  let kinds = new Map();
  let payloadEdited = false;
  payload.addEventListener("input", () => { payloadEdited = true; });
  const chooseKind = () => {
    const k = kinds.get(newKind.value);
    if (!k) { hint.textContent = ""; return; }
    prio.value = String(k.default_priority);
    const required = requiredFields(k.payload_schema);
    hint.textContent = [k.description, required.length ? "required payload fields: " + required.join(", ") : "no required payload fields"]
      .filter(Boolean).join(" · ");
    if (!payloadEdited) payload.value = payloadSkeleton(k.payload_schema, required);
  };
  newKind.addEventListener("change", chooseKind);
  const submit = h("form", { class: "card", id: "submit-form", onsubmit: async (e) => {
    e.preventDefault();
    submitErr.textContent = "";
    try {
      const job = await api("POST", "/v1/jobs", { kind: newKind.value, payload: JSON.parse(payload.value || "{}"), priority: Number(prio.value) });
      location.hash = "#/jobs/" + job.id;
    } catch (ex) {
      submitErr.textContent = ex.message;
    }
  } }, h("h2", {}, "Submit a job"),
    h("div", { class: "row" }, h("label", {}, "Kind", newKind), h("label", {}, "Payload (JSON)", payload), h("label", {}, "Priority", prio),
      h("button", { type: "submit", id: "submit-job" }, "Submit job"), submitErr),
    hint);
  api("GET", "/v1/kinds").then((list) => {
    // Only what this user may submit: internal kinds (made by Hopper
    // itself) and admin kinds (for others) would only answer 403.
    const mine = list.kinds.filter((k) => k.submittable);
    kinds = new Map(mine.map((k) => [k.name, k]));
    newKind.replaceChildren(...mine.map((k) => h("option", { value: k.name, title: k.description || null }, k.name)));
    chooseKind();
  }).catch((ex) => {
    if (ex.status === 401) return loginView("Your session ended; sign in again.");
    submitErr.textContent = "kinds not loaded: " + ex.message;
  });

  main.replaceChildren(h("h1", {}, me.admin ? "All jobs" : "Your jobs"), submit, charts,
    h("div", { class: "row card" }, h("label", {}, "State", state), h("label", {}, "Kind", kind)),
    h("table", {}, h("thead", {}, h("tr", {}, ["Job", "Kind", "State", "Priority", "Progress", "Attempts", "Created"].map((c) => h("th", {}, c)))), tbody));

  const refresh = async () => {
    const q = new URLSearchParams({ limit: "50" });
    if (state.value) q.set("state", state.value);
    if (kind.value) q.set("kind", kind.value);
    try {
      const page = await api("GET", "/v1/jobs?" + q);
      tbody.replaceChildren(...page.jobs.map((j) => h("tr", { "data-job": j.id },
        h("td", {}, h("a", { href: "#/jobs/" + j.id }, h("code", {}, j.id.slice(0, 8) + "…"))),
        h("td", {}, j.kind), h("td", {}, stateBadge(j.state)), h("td", {}, j.priority),
        h("td", {}, bar(j.progress), " ", j.progress + "%"), h("td", {}, j.attempts + "/" + j.max_attempts),
        h("td", {}, fmtTime(j.created_at)))));
    } catch (ex) {
      if (ex.status === 401) return loginView("Your session ended; sign in again.");
    }
  };
  state.onchange = refresh;
  kind.oninput = refresh;
  let tick = 0;
  every(1000, () => {
    refresh();
    if (tick++ % 10 === 0) drawCharts();
  });
}

async function drawCharts() {
  let stats;
  try { stats = await api("GET", "/v1/stats?minutes=60"); } catch (ex) { return; }
  const byMinute = new Map(stats.minutes.map((m) => [m.minute, m]));
  const start = new Date(stats.since).getTime();
  const points = [];
  for (let i = 0; i < 60; i++) {
    const key = new Date(start + i * 60000).toISOString().replace(".000Z", "Z");
    const m = byMinute.get(key) || { succeeded: 0, failed: 0, cancelled: 0 };
    points.push(m);
  }
  barChart(document.getElementById("chart-throughput"), points.map((m) => m.succeeded + m.failed + m.cancelled), "#2563eb");
  barChart(document.getElementById("chart-failures"), points.map((m) => {
    const n = m.succeeded + m.failed + m.cancelled;
    return n ? (100 * m.failed) / n : 0;
  }), "#dc2626", 100);
}

function svgEl(id) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  el.setAttribute("id", id);
  return el;
}

function barChart(svg, values, color, fixedMax) {
  if (!svg) return;
  const max = fixedMax || Math.max(1, ...values);
  const w = 600, hgt = 120, bw = w / values.length;
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren(...values.map((v, i) => {
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const bh = (v / max) * (hgt - 10);
    r.setAttribute("x", i * bw + 1); r.setAttribute("width", bw - 2);
    r.setAttribute("y", hgt - bh); r.setAttribute("height", bh); r.setAttribute("fill", color);
    return r;
  }));
}

async function jobView(id) {
  const box = h("div", { id: "job" });
  const output = jobOutput(id); // output.js
  main.replaceChildren(h("p", {}, h("a", { href: "#/jobs" }, "← all jobs")), box);
  const render = async () => {
    let j;
    try { j = await api("GET", "/v1/jobs/" + id); } catch (ex) {
      if (ex.status === 401) return loginView();
      box.replaceChildren(h("p", { class: "error" }, ex.message));
      clearInterval(timer);
      return;
    }
    const actions = h("div", { class: "row" });
    if (!terminal(j.state)) actions.append(h("button", { class: "danger", id: "cancel", onclick: async () => { await api("DELETE", "/v1/jobs/" + id); render(); } }, "Cancel"));
    if (j.state === "failed" || j.state === "cancelled") actions.append(h("button", { id: "retry", onclick: async () => { await api("POST", "/v1/jobs/" + id + "/retry"); render(); } }, "Retry"));
    box.replaceChildren(...[
      h("h1", {}, j.kind, " ", stateBadge(j.state)),
      h("div", { class: "card" }, bar(j.progress, true), h("p", { id: "progress-text" }, j.progress + "% ", h("span", { class: "muted" }, j.status_message || ""))),
      actions,
      output.el,
      h("div", { class: "card" }, h("dl", {},
        h("dt", {}, "ID"), h("dd", {}, h("code", { id: "job-id" }, j.id)),
        h("dt", {}, "Queue"), h("dd", {}, j.queue),
        h("dt", {}, "Priority"), h("dd", {}, j.priority),
        h("dt", {}, "Attempts"), h("dd", {}, j.attempts + " of " + j.max_attempts),
        h("dt", {}, "Created"), h("dd", {}, fmtTime(j.created_at)),
        h("dt", {}, "Started"), h("dd", {}, fmtTime(j.started_at)),
        h("dt", {}, "Finished"), h("dd", {}, fmtTime(j.finished_at)))),
      j.error ? h("div", {}, h("h2", {}, "Error"), h("pre", { class: "error", id: "job-error" }, j.error)) : null,
      j.result ? h("div", {}, h("h2", {}, "Result"), h("pre", { id: "job-result" }, JSON.stringify(j.result, null, 2))) : null,
      h("h2", {}, "Payload"), h("pre", {}, JSON.stringify(j.payload, null, 2)),
      h("h2", {}, "Timeline"),
      h("table", { id: "timeline" }, h("thead", {}, h("tr", {}, ["At", "Event", "State", "Attempt", "Message"].map((c) => h("th", {}, c)))),
        h("tbody", {}, j.events.map((e) => h("tr", {}, h("td", {}, fmtTime(e.at)), h("td", {}, e.type), h("td", {}, stateBadge(e.state)), h("td", {}, e.attempt), h("td", {}, e.message || "")))))].filter(Boolean));
    output.update(j);
    if (terminal(j.state)) { clearInterval(timer); stopStream(); }
  };
  followJob(id, render);
}

// --- live job events ---

let stream = null;
// Every event type the gateway sends on /v1/jobs/{id}/events.
const jobEventTypes = ["created", "scheduled", "queued", "started", "progress", "retrying", "retried",
  "released", "cancel_requested", "succeeded", "failed", "cancelled"];

function stopStream() {
  if (stream) { stream.close(); stream = null; }
}

// followJob re-renders on each Server-Sent Event of the job (the session
// cookie authenticates the stream); where EventSource is missing or the
// stream breaks for good, it falls back to polling.
function followJob(id, render) {
  clearInterval(timer);
  stopStream();
  render();
  if (!window.EventSource) { every(1000, render); return; }
  const es = new EventSource("/v1/jobs/" + encodeURIComponent(id) + "/events");
  stream = es;
  for (const t of jobEventTypes) es.addEventListener(t, render);
  es.onerror = () => {
    if (stream === es && es.readyState === EventSource.CLOSED) { stream = null; every(1000, render); }
  };
}

// --- workflows ---

const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...children) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function workflowsView() {
  const state = h("select", { id: "wf-filter-state" }, h("option", { value: "" }, "any state"),
    ["running", "succeeded", "failed", "cancelled"].map((st) => h("option", { value: st }, st)));
  const tbody = h("tbody", { id: "workflows" });
  main.replaceChildren(h("h1", {}, me.admin ? "All workflows" : "Your workflows"),
    h("div", { class: "row card" }, h("label", {}, "State", state)),
    h("table", {}, h("thead", {}, h("tr", {}, ["Workflow", "Name", "State", "Policy", "Created", "Finished"].map((c) => h("th", {}, c)))), tbody));
  const refresh = async () => {
    const q = new URLSearchParams({ limit: "50" });
    if (state.value) q.set("state", state.value);
    try {
      const page = await api("GET", "/v1/workflows?" + q);
      tbody.replaceChildren(...page.workflows.map((w) => h("tr", { "data-workflow": w.id },
        h("td", {}, h("a", { href: "#/workflows/" + w.id }, h("code", {}, w.id.slice(0, 8) + "…"))),
        h("td", {}, w.name || "—"), h("td", {}, stateBadge(w.state)), h("td", {}, w.failure_policy),
        h("td", {}, fmtTime(w.created_at)), h("td", {}, fmtTime(w.finished_at)))));
    } catch (ex) {
      if (ex.status === 401) return loginView("Your session ended; sign in again.");
    }
  };
  state.onchange = refresh;
  every(2000, refresh);
}

// layoutGraph places each step in the column of its longest path from a
// root, in submit order within a column.
function layoutGraph(steps) {
  const byName = new Map(steps.map((st) => [st.name, st]));
  const depth = new Map();
  const depthOf = (name) => {
    if (depth.has(name)) return depth.get(name);
    depth.set(name, 0); // the gateway refuses cycles; this only guards the page
    const st = byName.get(name);
    const d = st && st.depends_on.length ? 1 + Math.max(...st.depends_on.map(depthOf)) : 0;
    depth.set(name, d);
    return d;
  };
  const rows = [];
  const pos = new Map();
  for (const st of steps) {
    const col = depthOf(st.name);
    rows[col] = (rows[col] || 0) + 1;
    pos.set(st.name, { col, row: rows[col] - 1 });
  }
  return { pos, cols: rows.length, rows: Math.max(1, ...rows) };
}

// counts is what a node shows under its name: its jobs' progress, with
// the fan-out width.
function counts(st) {
  if (!st.jobs_total) return st.for_each ? "fan-out" : "";
  const txt = st.jobs_succeeded + "/" + st.jobs_total + (st.for_each ? " (fan-out ×" + st.jobs_total + ")" : "");
  return st.jobs_failed ? txt + " · " + st.jobs_failed + " failed" : txt;
}

function drawWorkflow(svg, steps) {
  const nodeW = 170, nodeH = 48, gapX = 70, gapY = 22, pad = 12;
  const { pos, cols, rows } = layoutGraph(steps);
  const w = pad * 2 + cols * nodeW + (cols - 1) * gapX, ht = pad * 2 + rows * nodeH + (rows - 1) * gapY;
  svg.setAttribute("viewBox", `0 0 ${w} ${ht}`);
  svg.setAttribute("class", "graph");
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(ht));
  const xy = (name) => { const p = pos.get(name); return { x: pad + p.col * (nodeW + gapX), y: pad + p.row * (nodeH + gapY) }; };
  const edges = [];
  for (const st of steps) {
    const to = xy(st.name);
    for (const dep of st.depends_on) {
      if (!pos.has(dep)) continue;
      const from = xy(dep);
      const x1 = from.x + nodeW, y1 = from.y + nodeH / 2, x2 = to.x, y2 = to.y + nodeH / 2, mx = (x1 + x2) / 2;
      edges.push(s("path", { class: "edge", "data-edge": dep + "→" + st.name, d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
    }
  }
  const nodes = steps.map((st) => {
    const p = xy(st.name);
    return s("g", { class: "node " + st.state, "data-step": st.name, "data-state": st.state, transform: `translate(${p.x},${p.y})` },
      s("title", {}, st.name + " (" + st.kind + "): " + st.state + (st.error ? " — " + st.error : "")),
      s("rect", { width: nodeW, height: nodeH, rx: 6 }),
      s("text", { x: 10, y: 19, class: "name" }, st.name.length > 20 ? st.name.slice(0, 19) + "…" : st.name),
      s("text", { x: 10, y: 37, class: "count" }, counts(st)));
  });
  svg.replaceChildren(...edges, ...nodes);
}

async function workflowView(id) {
  clearInterval(timer);
  stopStream();
  const box = h("div", { id: "workflow" });
  main.replaceChildren(h("p", {}, h("a", { href: "#/workflows" }, "← all workflows")), box);
  let wf;
  const graph = document.createElementNS(svgNS, "svg");
  graph.setAttribute("id", "wf-graph");
  const title = h("h1", {});
  const actions = h("div", { class: "row" });
  const err = h("p", { class: "error", id: "wf-error" });
  const tbody = h("tbody", { id: "wf-steps" });
  box.replaceChildren(title, actions, err, h("div", { class: "card" }, graph),
    h("h2", {}, "Steps"), h("table", {}, h("thead", {}, h("tr", {}, ["Step", "Kind", "State", "Jobs", "Depends on", "Error", ""].map((c) => h("th", {}, c)))), tbody));
  const act = (label, cls, path) => h("button", { class: cls, onclick: async () => {
    err.textContent = "";
    try { await api("POST", path); await load(); follow(); } catch (ex) { err.textContent = ex.message; }
  } }, label);
  const paint = () => {
    title.replaceChildren(wf.name || "Workflow", " ", stateBadge(wf.state));
    title.setAttribute("data-state", wf.state);
    actions.replaceChildren(...(wf.state === "running" ? [act("Cancel", "danger", "/v1/workflows/" + id + "/cancel")] : []));
    drawWorkflow(graph, wf.steps);
    tbody.replaceChildren(...wf.steps.map((st) => h("tr", { "data-step": st.name },
      h("td", {}, st.name), h("td", {}, st.kind), h("td", {}, stateBadge(st.state)), h("td", {}, counts(st)),
      h("td", {}, st.depends_on.join(", ") || "—"), h("td", { class: "error" }, st.error || ""),
      h("td", {}, st.state === "failed" || st.state === "cancelled"
        ? act("Retry", "secondary", "/v1/workflows/" + id + "/steps/" + encodeURIComponent(st.name) + "/retry") : null))));
  };
  const load = async () => {
    try { wf = await api("GET", "/v1/workflows/" + id); } catch (ex) {
      if (ex.status === 401) return loginView();
      err.textContent = ex.message;
      return;
    }
    paint();
  };
  // apply merges a stream's step states into the workflow and repaints.
  // The stream ends after a snapshot or workflow message with a terminal
  // state (the step messages before it may carry that state already).
  const apply = (state, list, last) => {
    if (!wf) return;
    wf.state = state || wf.state;
    const byName = new Map(wf.steps.map((st) => [st.name, st]));
    for (const u of list || []) Object.assign(byName.get(u.name) || {}, u);
    paint();
    if (last && terminal(wf.state)) stopStream();
  };
  // follow listens to the workflow's Server-Sent Events; where
  // EventSource is missing or the stream breaks for good, it polls.
  const follow = () => {
    stopStream();
    if (terminal(wf.state)) return;
    if (!window.EventSource) { every(1000, load); return; }
    const es = new EventSource("/v1/workflows/" + encodeURIComponent(id) + "/events");
    stream = es;
    es.addEventListener("snapshot", (e) => { const d = JSON.parse(e.data); apply(d.state, d.steps, true); });
    es.addEventListener("step", (e) => { const d = JSON.parse(e.data); apply(d.workflow_state, [d]); });
    es.addEventListener("workflow", (e) => { const d = JSON.parse(e.data); apply(d.state, [], true); });
    es.onerror = () => {
      if (stream === es && es.readyState === EventSource.CLOSED) { stream = null; every(1000, load); }
    };
  };
  await load();
  if (wf) follow();
}

// --- queues and workers ---

async function tableView(title, path, field, columns, link) {
  const tbody = h("tbody");
  const err = h("p", { class: "error" });
  main.replaceChildren(h("h1", {}, title), err, h("table", {}, h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))), tbody));
  every(2000, async () => {
    try {
      const data = await api("GET", path);
      err.textContent = "";
      tbody.replaceChildren(...(data[field] || []).map((row) => h("tr", {}, columns.map((c) => {
        const v = row[c];
        if (link && c === "name" && row[link]) return h("td", {}, h("a", { href: row[link], target: "_blank", rel: "noopener" }, v));
        return h("td", {}, v === null || v === undefined ? "—" : Array.isArray(v) ? v.join(", ") : String(v));
      }))));
    } catch (ex) {
      if (ex.status === 401) return loginView();
      err.textContent = ex.message;
    }
  });
}

// --- routing ---

function route() {
  const hash = location.hash || "#/jobs";
  const m = hash.match(/^#\/jobs\/([0-9a-f-]{36})$/);
  if (m) return jobView(m[1]);
  const w = hash.match(/^#\/workflows\/([0-9a-f-]{36})$/);
  if (w) return workflowView(w[1]);
  if (hash === "#/workflows") return workflowsView();
  if (hash === "#/queues") return tableView("Queues", "/v1/queues", "queues", ["name", "ready", "unacked", "consumers", "publish_rate", "deliver_rate", "oldest_waiting_seconds", "paused"], "management_url");
  if (hash === "#/push-kinds") return pushKindsView(); // admin.js
  if (hash === "#/worker-tokens") return workerTokensView(); // admin.js
  if (hash === "#/workers") return tableView("Workers", "/v1/workers", "workers", ["id", "service", "host", "queues", "concurrency", "in_flight", "started_at", "last_seen_at"]);
  return jobsView();
}

async function start() {
  // GET /ui/session answers 200 {signed_in: false} before sign-in, so the
  // first visit logs no failed request.
  try {
    me = await api("GET", "/ui/session");
  } catch (ex) {
    me = null;
    return loginView(ex.message);
  }
  if (!me.signed_in) {
    me = null;
    return loginView();
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("who").textContent = (me.email || "operator") + (me.admin ? " (admin)" : "");
  for (const el of document.querySelectorAll("[data-admin]")) el.hidden = !me.admin;
  route();
}

document.getElementById("signout").addEventListener("click", async () => {
  await api("DELETE", "/ui/session");
  me = null;
  loginView();
});
window.addEventListener("hashchange", () => me && route());
// After every script of the page ran (admin.js and output.js add views).
document.addEventListener("DOMContentLoaded", start);
