// Flow page: trying the text in the editor before it goes live. The test panel (a call without a phone, run by
// the server's runner; the browser keeps the call's state), the flow's test cases, and replays of recorded calls.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const page = window.flowPage;
  if (!page.canEdit) return;
  const $ = (id) => document.getElementById(id);

  // --- hearing a prompt through the product's TTS ------------------------------------------------
  let playing = null;
  async function hear(text, button) {
    button.disabled = true;
    try {
      const res = await fetch(`/api/tts?text=${encodeURIComponent(text)}`, { credentials: "same-origin" });
      if (!res.ok) {
        let message = res.statusText;
        try { message = (await res.json()).error || message; } catch (e) { /* not JSON */ }
        if (res.status === 401) { if (window.ivr.beforeLogin) window.ivr.beforeLogin(); location.href = "/login?next=" + encodeURIComponent(location.pathname); }
        toast(message, "error");
        return;
      }
      if (playing) playing.pause();
      playing = new Audio(URL.createObjectURL(await res.blob()));
      await playing.play();
    } catch (e) { toast(`Cannot play the prompt: ${e.message}`, "error"); }
    finally { button.disabled = false; }
  }

  // --- the test panel ------------------------------------------------------------------------
  const log = $("sim-log");
  let state = null;
  const controls = ["sim-text", "sim-say", "sim-keys", "sim-press", "sim-silence", "sim-hangup"];

  function line(kind, ...children) {
    const row = el("div", { class: `sim-line ${kind}`, "data-testid": `sim-${kind}` }, ...children);
    log.append(row);
    row.scrollIntoView({ block: "nearest" });
    return row;
  }

  function showEvent(e) {
    if (e.kind === "say") {
      const btn = el("button", { type: "button", class: "hear", title: "Hear it through the product's TTS", "data-testid": "sim-play" }, "▶ Hear");
      btn.addEventListener("click", () => hear(e.text, btn));
      line("ivr", el("span", { class: "who" }, "IVR"), el("span", { class: "said" }, e.text), btn);
    } else if (e.kind === "intent") {
      const others = (e.ranked || []).slice(1).map(([n, c]) => `${n} ${c.toFixed(2)}`).join(", ");
      line("intent", `${e.source === "dtmf" ? "keys" : "heard"} “${e.text}” → `,
        el("strong", {}, e.intent || "no match"), e.confidence != null ? ` (confidence ${e.confidence.toFixed(2)})` : "",
        others ? el("span", { class: "muted" }, `; next: ${others}`) : "");
    } else if (e.kind === "note") {
      line("note", e.text);
    } else {
      line("action", `[${e.kind}] ${e.text}`);
    }
  }

  function table(id, values) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren(...Object.entries(values).map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { class: "mono" }, JSON.stringify(v)))));
    if (!Object.keys(values).length) body.append(el("tr", {}, el("td", { class: "muted" }, "none yet")));
  }

  function show(result) {
    state = result.state;
    for (const e of result.events) showEvent(e);
    $("sim-step").textContent = result.done ? `The call ended (${result.ended_by}) at step ${result.step}.`
      : `At step ${result.step}, ${result.status === "listening" ? "waiting for the caller" : "waiting for an answer"}.`;
    $("sim-step").className = result.done ? "ended" : "";
    table("sim-slots", result.slots);
    table("sim-vars", result.variables);
    page.graph.current(result.step);
    for (const id of controls) $(id).disabled = result.done || !!result.waiting_http;
    $("sim-http-form").hidden = !result.waiting_http;
    $("sim-http-request").textContent = result.waiting_http;
    if (result.done) line("end", `Call ended: ${result.ended_by}.`);
  }

  async function move(action, extra = {}) {
    const body = { source: page.text(), state, action, ...extra };
    try {
      show(await api("POST", `${page.base}/simulate`, body));
    } catch (e) {
      if (e.status === 422 && e.data.problems) {
        line("error", `The flow has problems, so it cannot run: line ${e.data.problems[0].line}: ${e.data.problems[0].message}`);
      } else if (e.status !== 401) line("error", e.message);
    }
  }

  $("sim-start").addEventListener("click", () => {
    state = null;
    log.replaceChildren();
    $("sim-start").textContent = "Start over";
    move("start");
  });
  $("sim-say-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("sim-text").value.trim();
    if (!text) return;
    line("caller", el("span", { class: "said" }, text), el("span", { class: "who" }, "Caller"));
    $("sim-text").value = "";
    move("say", { text });
  });
  $("sim-keys-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("sim-keys").value.trim();
    if (!text) return;
    line("caller", el("span", { class: "said" }, `presses ${text}`), el("span", { class: "who" }, "Caller"));
    $("sim-keys").value = "";
    move("keys", { text });
  });
  $("sim-silence").addEventListener("click", () => { line("caller", el("span", { class: "said muted" }, "(silence)"), el("span", { class: "who" }, "Caller")); move("silence"); });
  $("sim-hangup").addEventListener("click", () => { line("caller", el("span", { class: "said muted" }, "(hangs up)"), el("span", { class: "who" }, "Caller")); move("hangup"); });
  $("sim-http-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    move("http", { status: Number($("sim-http-status").value || 0), body: $("sim-http-body").value });
  });

  // --- test cases ----------------------------------------------------------------------------
  $("tests-run").addEventListener("click", async () => {
    const btn = $("tests-run");
    const summary = $("tests-summary");
    btn.disabled = true;
    summary.textContent = "Running…";
    summary.className = "summary";
    try {
      const run = await api("POST", `${page.base}/tests`, { source: page.text() });
      const body = $("tests-table").querySelector("tbody");
      body.replaceChildren();
      if (run.problems.length) {
        summary.textContent = `The flow has ${run.problems.length} problem(s), so no case ran (first, line ${run.problems[0].line}: ${run.problems[0].message}).`;
        summary.className = "summary fail";
      } else if (!run.file) {
        summary.textContent = "This flow has no test cases.";
      } else {
        summary.textContent = `${run.passed} of ${run.cases.length} pass${run.failed ? `, ${run.failed} fail` : ""} (${run.seconds.toFixed(1)} s)`;
        summary.className = `summary ${run.failed ? "fail" : "pass"}`;
      }
      for (const c of run.cases) {
        const transcript = el("details", {}, el("summary", {}, "transcript"), el("pre", {}, c.transcript.join("\n")));
        body.append(el("tr", { class: c.passed ? "" : "bad", "data-testid": "test-case" },
          el("td", {}, c.name), el("td", {}, el("span", { class: `badge ${c.passed ? "on" : "fail"}` }, c.passed ? "pass" : "fail")),
          el("td", {}, c.failure ? el("div", {}, c.failure) : null, transcript)));
      }
      $("tests-table").hidden = !run.cases.length;
    } catch (e) {
      if (e.status !== 401) { summary.textContent = e.message; summary.className = "summary fail"; }
    } finally { btn.disabled = false; }
  });

  // --- replays of recorded calls ---------------------------------------------------------------
  const outcome = (o) => el("div", {}, el("div", {}, `ends at `, el("code", {}, o.step)), el("div", { class: "muted small" },
    `${o.transfer ? `to agent (${o.queue})` : o.ended_by || "still in the flow"}${o.intent ? `; intent ${o.intent}` : ""}`));

  $("replay-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = $("replay-run");
    const summary = $("replay-summary");
    btn.disabled = true;
    summary.textContent = "Replaying…";
    summary.className = "summary";
    try {
      const run = await api("POST", `${page.base}/replay`, { source: page.text(), limit: Number($("replay-limit").value || 20) });
      const body = $("replay-table").querySelector("tbody");
      body.replaceChildren();
      if (!run.calls.length) summary.textContent = "No recorded calls of this flow yet.";
      else {
        summary.textContent = `${run.changed} of ${run.calls.length} call(s) would end differently (${run.seconds.toFixed(1)} s)`;
        summary.className = `summary ${run.changed ? "fail" : "pass"}`;
      }
      if (run.skipped.length) summary.textContent += `; ${run.skipped.length} skipped: ${run.skipped[0]}`;
      for (const c of run.calls) {
        const inputs = el("details", {}, el("summary", {}, `${c.replayed} of ${c.inputs.length} input(s)`),
          el("ol", {}, ...c.inputs.map((t) => el("li", {}, t))));
        body.append(el("tr", { class: c.changed ? "bad" : "", "data-testid": "replay-call", "data-call": c.call_id },
          el("td", {}, el("code", {}, c.call_id), el("div", { class: "muted small" }, `${window.ivr.when(c.started_at)} · version ${c.version ?? "?"} · ${c.recorded_status}`)),
          el("td", {}, inputs, c.note ? el("div", { class: "muted small" }, c.note) : null),
          el("td", {}, outcome(c.before)), el("td", {}, outcome(c.after)),
          el("td", {}, c.changed ? el("span", { class: "badge fail" }, "changed") : el("span", { class: "badge on" }, "same"),
            el("ul", { class: "changes" }, ...c.changes.map((t) => el("li", {}, t))),
            c.parted ? el("div", { class: "small" }, `Paths part ${c.parted}`) : null)));
      }
      $("replay-table").hidden = !run.calls.length;
    } catch (e) {
      if (e.status === 422 && e.data.problems) { summary.textContent = `Fix the flow's problems first (line ${e.data.problems[0].line}: ${e.data.problems[0].message})`; summary.className = "summary fail"; }
      else if (e.status !== 401) { summary.textContent = e.message; summary.className = "summary fail"; }
    } finally { btn.disabled = false; }
  });
})();
