// Hopper dashboard, admin pages: push kinds (declare, edit, rotate the
// signing secret, delete; /v1/admin/push-kinds) and worker tokens (issue,
// revoke; /v1/admin/worker-tokens). Loaded after app.js, whose helpers it
// uses (h, api, every, loginView, fmtTime). A secret or token is shown
// once, in the answer that made it: the page holds it only in that card.
"use strict";

// shownOnce is the card for a credential the API shows only this once,
// with a Copy button (or, where the clipboard is refused, the text
// selected for a manual copy).
function shownOnce(id, what, value, note) {
  const code = h("code", { id, class: "secret" }, value);
  const copied = h("span", { class: "muted" });
  const card = h("div", { class: "card once", role: "alert" },
    h("p", {}, h("strong", {}, "Copy this " + what + " now: it is not shown again."), " ", note || ""),
    h("div", { class: "row" }, code,
      h("button", { type: "button", class: "secondary", onclick: async () => {
        try {
          await navigator.clipboard.writeText(value);
          copied.textContent = "copied";
        } catch (ex) {
          const range = document.createRange();
          range.selectNodeContents(code);
          getSelection().removeAllRanges();
          getSelection().addRange(range);
          copied.textContent = "selected: press Ctrl+C";
        }
      } }, "Copy"),
      h("button", { type: "button", onclick: () => card.remove() }, "Done"),
      copied));
  return card;
}

// failed shows an API error in el, or the sign-in page when the session
// ended.
function failed(ex, el) {
  if (ex.status === 401) return loginView("Your session ended; sign in again.");
  el.textContent = ex.message;
}

// numberOrUndefined is an input's number, or undefined (left out of the
// request: the API's default, or unchanged on edit) when empty.
function numberOrUndefined(input) {
  return input.value.trim() === "" ? undefined : Number(input.value);
}

// --- push kinds ---

async function pushKindsView() {
  const err = h("p", { class: "error", id: "push-kinds-error" });
  const once = h("div", { id: "push-kind-once" });
  const tbody = h("tbody", { id: "push-kinds" });
  let list = [];
  let pending = null; // {name, action: "delete" | "rotate"} awaiting confirmation
  let editing = null; // the name of the kind the form edits, or null for a new one

  const f = {
    name: h("input", { id: "pk-name", required: true, placeholder: "acme.summarize", size: 22 }),
    url: h("input", { id: "pk-url", required: true, placeholder: "https://ml.example.com/summarize", size: 40 }),
    timeout: h("input", { id: "pk-timeout", type: "number", min: "1", step: "any", placeholder: "60", size: 6 }),
    attempts: h("input", { id: "pk-attempts", type: "number", min: "1", placeholder: "3", size: 4 }),
    concurrency: h("input", { id: "pk-concurrency", type: "number", min: "0", placeholder: "0 = no cap", size: 8 }),
    rate: h("input", { id: "pk-rate", type: "number", min: "0", step: "any", placeholder: "0 = no limit", size: 8 }),
    description: h("input", { id: "pk-description", placeholder: "what it does", size: 40 }),
    schema: h("textarea", { id: "pk-schema", rows: 4, cols: 70, spellcheck: "false",
      placeholder: '{"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}' }),
  };
  const formTitle = h("h2", {}, "New push kind");
  const formErr = h("span", { class: "error", id: "pk-form-error" });
  const submit = h("button", { type: "submit", id: "pk-submit" }, "Create push kind");
  const cancelEdit = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => edit(null) }, "Cancel edit");
  const form = h("form", { class: "card", id: "push-kind-form", onsubmit: async (e) => {
    e.preventDefault();
    formErr.textContent = "";
    const body = { url: f.url.value.trim(), description: f.description.value.trim(), timeout_seconds: numberOrUndefined(f.timeout),
      max_attempts: numberOrUndefined(f.attempts), concurrency: numberOrUndefined(f.concurrency), rate_per_second: numberOrUndefined(f.rate) };
    const schema = f.schema.value.trim();
    if (schema) {
      try { body.payload_schema = JSON.parse(schema); } catch (ex) { formErr.textContent = "payload schema: not JSON: " + ex.message; return; }
    } else if (editing) {
      body.payload_schema = null; // emptied: the kind takes any payload
    }
    try {
      if (editing) {
        await api("PATCH", "/v1/admin/push-kinds/" + encodeURIComponent(editing), body);
        edit(null);
      } else {
        body.name = f.name.value.trim();
        const made = await api("POST", "/v1/admin/push-kinds", body);
        once.replaceChildren(shownOnce("shown-secret", "signing secret of " + made.name, made.secret,
          "Give it to the endpoint: it verifies each delivery's Hopper-Signature header with it."));
        form.reset();
      }
      await refresh();
    } catch (ex) {
      failed(ex, formErr);
    }
  } }, formTitle,
  h("div", { class: "row" }, h("label", {}, "Name", f.name), h("label", {}, "URL", f.url), h("label", {}, "Description", f.description)),
  h("div", { class: "row" }, h("label", {}, "Timeout (s)", f.timeout), h("label", {}, "Attempts", f.attempts),
    h("label", {}, "Concurrency", f.concurrency), h("label", {}, "Rate (/s)", f.rate)),
  h("div", { class: "row" }, h("label", {}, "Payload schema (JSON Schema, optional)", f.schema)),
  h("div", { class: "row" }, submit, cancelEdit, formErr));

  // edit fills the form with a kind's settings (PATCH on submit), or
  // empties it for a new kind when k is null.
  const edit = (k) => {
    editing = k ? k.name : null;
    form.reset();
    formErr.textContent = "";
    f.name.disabled = !!k;
    cancelEdit.hidden = !k;
    formTitle.textContent = k ? "Edit " + k.name : "New push kind";
    submit.textContent = k ? "Save changes" : "Create push kind";
    if (!k) return;
    f.name.value = k.name;
    f.url.value = k.url;
    f.description.value = k.description || "";
    f.timeout.value = k.timeout_seconds;
    f.attempts.value = k.max_attempts;
    f.concurrency.value = k.concurrency;
    f.rate.value = k.rate_per_second;
    f.schema.value = k.payload_schema ? JSON.stringify(k.payload_schema, null, 2) : "";
    form.scrollIntoView();
  };

  const act = async (fn) => {
    err.textContent = "";
    try { await fn(); } catch (ex) { failed(ex, err); }
    pending = null;
    await refresh();
  };
  const actions = (k) => {
    const path = "/v1/admin/push-kinds/" + encodeURIComponent(k.name);
    if (pending && pending.name === k.name && pending.action === "delete") {
      return [h("span", {}, "Delete " + k.name + "? New submits are refused; accepted jobs fail at delivery. "),
        h("button", { class: "danger", "data-confirm": "delete", onclick: () => act(async () => {
          await api("DELETE", path);
          if (editing === k.name) edit(null);
        }) }, "Delete"),
        h("button", { class: "secondary", onclick: () => { pending = null; draw(); } }, "Keep")];
    }
    if (pending && pending.name === k.name && pending.action === "rotate") {
      const overlap = h("select", { "data-overlap": "" }, h("option", { value: "86400" }, "1 day"), h("option", { value: "3600" }, "1 hour"),
        h("option", { value: "0" }, "no overlap: revoke it now"));
      // The list redraws every few seconds: the choice lives in pending.
      overlap.value = pending.overlap || "86400";
      overlap.addEventListener("change", () => { pending.overlap = overlap.value; });
      return [h("label", {}, "The old secret keeps signing for", overlap),
        h("button", { "data-confirm": "rotate", onclick: () => act(async () => {
          const r = await api("POST", path + "/rotate-secret", { overlap_seconds: Number(overlap.value) });
          once.replaceChildren(shownOnce("shown-secret", "new signing secret of " + k.name, r.secret,
            r.others_expire_at && overlap.value !== "0" ? "The older secrets sign too until " + fmtTime(r.others_expire_at) + "." : ""));
        }) }, "Rotate"),
        h("button", { class: "secondary", onclick: () => { pending = null; draw(); } }, "Keep")];
    }
    return [h("button", { class: "secondary", "data-action": "edit", onclick: () => edit(k) }, "Edit"),
      h("button", { class: "secondary", "data-action": "rotate", onclick: () => { pending = { name: k.name, action: "rotate" }; draw(); } }, "Rotate secret"),
      h("button", { class: "danger", "data-action": "delete", onclick: () => { pending = { name: k.name, action: "delete" }; draw(); } }, "Delete")];
  };
  const draw = () => {
    tbody.replaceChildren(...list.map((k) => h("tr", { "data-kind": k.name },
      h("td", {}, h("code", {}, k.name), k.description ? h("div", { class: "muted" }, k.description) : null),
      h("td", { class: "url" }, k.url), h("td", {}, k.queue), h("td", {}, k.concurrency || "no cap"),
      h("td", {}, k.rate_per_second ? k.rate_per_second + "/s" : "no limit"), h("td", {}, k.timeout_seconds + " s"),
      h("td", {}, k.max_attempts), h("td", { "data-workers": k.workers }, k.workers), h("td", {}, k.secrets.length),
      h("td", { class: "actions" }, actions(k)))));
    if (!list.length) tbody.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No push kinds yet.")));
  };
  const refresh = async () => {
    try {
      list = (await api("GET", "/v1/admin/push-kinds")).push_kinds;
    } catch (ex) {
      return failed(ex, err);
    }
    draw();
  };

  main.replaceChildren(h("h1", {}, "Push kinds"),
    h("p", { class: "muted" }, "Kinds whose handler is an HTTP endpoint: the push worker POSTs each job to the URL, signed with the kind's secret."),
    once, err,
    h("table", {}, h("thead", {}, h("tr", {}, ["Name", "URL", "Queue", "Concurrency", "Rate", "Timeout", "Attempts", "Live workers", "Secrets", ""]
      .map((c) => h("th", {}, c)))), tbody),
    form);
  // Live workers change on their own; a pending confirmation survives
  // the refresh (draw keeps it), the form is not redrawn.
  every(5000, refresh);
}

// --- worker tokens ---

async function workerTokensView() {
  const err = h("p", { class: "error", id: "worker-tokens-error" });
  const once = h("div", { id: "worker-token-once" });
  const tbody = h("tbody", { id: "worker-tokens" });
  let list = [];
  let pending = null; // the id of the token whose Revoke awaits confirmation

  const name = h("input", { id: "wt-name", required: true, placeholder: "whisper-gpu", size: 20 });
  const queues = h("input", { id: "wt-queues", required: true, placeholder: "media, transcribe", size: 30 });
  const flight = h("input", { id: "wt-flight", type: "number", min: "1", max: "1000", placeholder: "16", size: 6 });
  const formErr = h("span", { class: "error", id: "wt-form-error" });
  const form = h("form", { class: "card", id: "worker-token-form", onsubmit: async (e) => {
    e.preventDefault();
    formErr.textContent = "";
    try {
      const made = await api("POST", "/v1/admin/worker-tokens", { name: name.value.trim(),
        queues: queues.value.split(/[\s,]+/).filter(Boolean), max_in_flight: numberOrUndefined(flight) });
      once.replaceChildren(shownOnce("shown-token", "worker token " + made.name, made.token,
        "Workers send it as Authorization: Bearer …; it claims jobs of " + made.queues.join(", ") + " only."));
      form.reset();
      await refresh();
    } catch (ex) {
      failed(ex, formErr);
    }
  } }, h("h2", {}, "New worker token"),
  h("div", { class: "row" }, h("label", {}, "Name (lower-case letters, digits, '-')", name), h("label", {}, "Queues (comma-separated)", queues),
    h("label", {}, "Max in flight", flight), h("button", { type: "submit", id: "wt-submit" }, "Create token"), formErr));

  const draw = () => {
    tbody.replaceChildren(...list.map((t) => {
      let action = null;
      if (t.revoked_at) action = h("span", { class: "muted" }, "revoked " + fmtTime(t.revoked_at));
      else if (pending === t.id) {
        action = [h("span", {}, "Revoke? Its workers stop at their next call. "),
          h("button", { class: "danger", "data-confirm": "revoke", onclick: async () => {
            err.textContent = "";
            try { await api("DELETE", "/v1/admin/worker-tokens/" + t.id); } catch (ex) { failed(ex, err); }
            pending = null;
            await refresh();
          } }, "Revoke"),
          h("button", { class: "secondary", onclick: () => { pending = null; draw(); } }, "Keep")];
      } else {
        action = h("button", { class: "danger", "data-action": "revoke", onclick: () => { pending = t.id; draw(); } }, "Revoke");
      }
      return h("tr", { "data-token": t.id, "data-name": t.name, class: t.revoked_at ? "revoked" : null },
        h("td", {}, t.name), h("td", {}, h("code", {}, t.prefix + "…")), h("td", {}, t.queues.join(", ")),
        h("td", {}, t.max_in_flight), h("td", {}, fmtTime(t.created_at)), h("td", { class: "actions" }, action));
    }));
    if (!list.length) tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No worker tokens yet.")));
  };
  const refresh = async () => {
    try {
      list = (await api("GET", "/v1/admin/worker-tokens")).tokens;
    } catch (ex) {
      return failed(ex, err);
    }
    draw();
  };

  main.replaceChildren(h("h1", {}, "Worker tokens"),
    h("p", { class: "muted" }, "Credentials of external workers (the pull protocol, any language): each claims and runs jobs of its queues only."),
    once, err,
    h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Token", "Queues", "Max in flight", "Created", ""].map((c) => h("th", {}, c)))), tbody),
    form);
  every(5000, refresh);
}
