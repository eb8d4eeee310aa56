// Hopper dashboard, the job page's output panel: the chunks a job's
// handler appends (a Go, Python or TypeScript worker, a pull worker, a
// push kind's callback; chat.message's LLM tokens), live from
// GET /v1/jobs/{id}/output as they arrive, in a <pre> that follows the
// end. Loaded after app.js, whose helpers it uses (h, api, terminal).
"use strict";

let outputStream = null; // the job page's output EventSource

function stopOutput() {
  if (outputStream) { outputStream.close(); outputStream = null; }
}

// jobOutput makes job id's output panel. Its update(job) is called after
// each render of the job page (which re-inserts the panel): the first
// call opens the stream for a job that may still write, or reads the
// whole text of a finished one. The panel shows while the job runs or
// once it has output.
function jobOutput(id) {
  stopOutput();
  const text = document.createTextNode("");
  const pre = h("pre", { id: "job-output", class: "output" }, text);
  const note = h("span", { class: "muted", id: "output-attempt" });
  const panel = h("div", { id: "job-output-panel", hidden: true }, h("h2", {}, "Output ", note), pre);
  let attempt = 0;       // the attempt whose output is shown: a retry starts over, as ?format=text does
  let started = false;   // the stream was opened or the text read
  let live = false;      // the stream is open
  let stick = true;      // the view follows the end (the user has not scrolled up)
  let top = 0;           // where the user scrolled to, to restore after a re-render

  pre.addEventListener("scroll", () => {
    if (!pre.isConnected) return;
    stick = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 8;
    top = pre.scrollTop;
  });
  const place = () => { pre.scrollTop = stick ? pre.scrollHeight : top; };
  const show = (a, chunk, replace) => {
    if (a !== attempt) {
      attempt = a;
      text.data = "";
      note.textContent = a > 1 ? "(attempt " + a + ")" : "";
    }
    if (replace) text.data = chunk; else text.appendData(chunk);
    if (text.data) panel.hidden = false;
    place();
  };
  const readText = async () => {
    try {
      const out = await api("GET", "/v1/jobs/" + encodeURIComponent(id) + "/output?format=text");
      if (out.attempt) show(out.attempt, out.text, true);
    } catch (ex) {
      // The job page shows the job's own errors; output is an extra.
    }
  };
  const follow = () => {
    const es = new EventSource("/v1/jobs/" + encodeURIComponent(id) + "/output");
    outputStream = es;
    live = true;
    const close = () => {
      es.close();
      if (outputStream === es) outputStream = null;
      live = false;
    };
    es.addEventListener("output", (e) => {
      if (!panel.isConnected) { close(); return; } // the page moved on
      const c = JSON.parse(e.data);
      show(c.attempt, c.text);
    });
    // The job is over and every chunk was sent: without close, EventSource
    // would reconnect.
    es.addEventListener("end", close);
    // A dropped connection is retried by EventSource itself, with the
    // last chunk's id as Last-Event-ID: the stream resumes after it. A
    // refused one (CLOSED) leaves the page to read the text on updates.
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) return;
      close();
      if (panel.isConnected) readText();
    };
  };

  const update = (j) => {
    panel.hidden = !(j.state === "running" || text.data);
    place();
    if (!started) {
      started = true;
      if (!terminal(j.state) && window.EventSource) follow(); else readText();
    } else if (!live && !terminal(j.state)) {
      readText(); // no stream: each change of the job reads the text again
    }
  };
  return { el: panel, update };
}

// Leaving the job page, or signing out, closes its stream.
window.addEventListener("hashchange", () => {
  if (outputStream && !document.getElementById("job-output-panel")) stopOutput();
});
document.getElementById("signout").addEventListener("click", stopOutput);
