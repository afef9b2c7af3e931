// The live floor: a snapshot, then the calls' events over server-sent events, applied without a reload.
// `apply` follows the rules of ivr/session/live_view.py (LiveCalls.apply) and LiveFloor._apply, so the page and a
// snapshot taken at any moment agree. Times are the server's wall clock; `skew` maps them onto this browser's.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  let floor = JSON.parse(document.getElementById("page-data").textContent);
  let skew = -Infinity; // server clock - browser clock, seconds: the largest (server time - arrival) seen
  let source = null;
  let open = null; // the call whose transcript is shown
  let dirty = false;
  // Seconds from each record's time stamp to this page showing it (rendered), by this browser's clock: exact when the
  // browser runs on the server's machine (the browser test and bench/dashboard_freshness.py read it).
  const lag = [];
  let unshown = []; // time stamps of records applied but not rendered yet
  const phases = {}; // call id -> the places it has been shown in, in order (flow, queue, ringing, agent ...)
  window.ivrLive = { lag, phases, floor: () => floor };

  const now = () => Date.now() / 1000 + skew;
  const byId = (list, key, id) => list.find((x) => x[key] === id);

  function takeSnapshot(snap) {
    floor = snap;
    skew = Math.max(skew, snap.now - Date.now() / 1000);
    if (open && !byId(floor.calls, "call_id", open.call_id)) endTranscript();
    render();
  }

  // --- applying one record (mirror of the server's reducer) -------------------------------------------------
  function apply(r) {
    floor.seq = r.seq;
    const c = byId(floor.calls, "call_id", r.call_id);
    switch (r.kind) {
      case "call_offered":
        floor.calls.push({ call_id: r.call_id, caller: r.caller, flow: r.flow, version: r.version, started: r.t,
          phase: "flow", step: "", since: r.t, queue: "", agent: "", last: "", turns: 0 });
        break;
      case "hangup": case "call_ended":
        if (c) floor.calls.splice(floor.calls.indexOf(c), 1);
        if (open && open.call_id === r.call_id) endTranscript();
        break;
      case "step_entered": if (c) { c.step = r.step; c.since = r.t; } break;
      case "say": case "play": if (c) turn(c, { t: r.t, speaker: "ivr", text: r.text }); break;
      case "intent_detected":
        if (c) turn(c, { t: r.t, speaker: "caller", text: r.text, intent: r.intent, confidence: r.confidence });
        break;
      case "bridged_turn": // the caller or the agent on the bridged call
        if (c) turn(c, { t: r.t, speaker: r.speaker, text: r.text, confidence: r.confidence });
        break;
      case "enqueued":
        if (c) Object.assign(c, { phase: "queue", queue: r.queue, agent: "", since: r.t });
        day(r.queue, (q) => { q.offered_today += 1; });
        break;
      case "offered": if (c) Object.assign(c, { phase: "ringing", agent: r.agent_id }); break;
      case "no_answer": case "offer_cancelled":
        if (c && c.phase === "ringing") Object.assign(c, { phase: "queue", agent: "" });
        break;
      case "answered":
        if (c) Object.assign(c, { phase: "agent", agent: r.agent_id, since: r.t });
        day(r.queue, (q) => { q.answered_today += 1; q.within = (q.within || 0) + (r.wait <= q.service_level_seconds ? 1 : 0); });
        break;
      case "abandoned": day(r.queue, (q) => { q.abandoned_today += 1; }); break;
      case "overflow":
        if (c && !String(r.target).startsWith("queue:")) Object.assign(c, { phase: "overflow", step: r.target, agent: "", since: r.t });
        break;
      case "agent_state": {
        const a = byId(floor.agents, "id", r.agent_id);
        if (a) Object.assign(a, { state: r.state, since: r.t });
        break;
      }
      case "queue_mode": { const q = byId(floor.queues, "name", r.queue); if (q) q.mode = r.mode; break; }
      case "reply_latency": floor.latency.points.push([r.t, r.seconds]); break;
      case "alert":
        floor.alerts = floor.alerts.filter((a) => a.key !== r.key);
        if (r.active) floor.alerts.push({ key: r.key, kind: r.alert_kind, subject: r.subject, message: r.message, since: r.since });
        else toast(`Cleared: ${r.message}`);
        break;
      default: break;
    }
    const moved = byId(floor.calls, "call_id", r.call_id);
    if (moved) {
      const seen = phases[moved.call_id] || (phases[moved.call_id] = []);
      if (seen[seen.length - 1] !== moved.phase) seen.push(moved.phase);
    }
    dirty = true;
  }

  function who(speaker) { return { caller: "Caller", agent: "Agent" }[speaker] || "IVR"; }

  function turn(c, t) {
    c.turns += 1;
    c.last = `${who(t.speaker)}: ${t.text}`;
    if (open && open.call_id === c.call_id) addTurn(t);
  }

  function day(name, fn) {
    const q = byId(floor.queues, "name", name);
    if (!q) return;
    if (q.within === undefined) { // the snapshot carries the share; keep the count it came from
      const closed = q.answered_today + q.abandoned_today;
      q.within = Math.round((q.service_level || 0) * closed);
    }
    fn(q);
    const closed = q.answered_today + q.abandoned_today;
    q.service_level = closed ? q.within / closed : null;
  }

  // --- the stream ---------------------------------------------------------------------------------------------
  function connect() {
    if (!floor.running) return;
    status("connecting…", "");
    source = new EventSource("/api/live/stream");
    source.addEventListener("snapshot", (e) => { takeSnapshot(JSON.parse(e.data)); status("live", "on"); });
    source.addEventListener("records", (e) => {
      const arrived = Date.now() / 1000;
      for (const r of JSON.parse(e.data)) {
        apply(r);
        skew = Math.max(skew, r.t - arrived); // a record cannot arrive before it happened
        unshown.push(r.t);
      }
    });
    source.addEventListener("bye", () => { source.close(); renew(); });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) { status("disconnected", "off"); setTimeout(renew, 2000); }
      else status("reconnecting…", "off");
    };
  }

  async function renew() {
    try {
      takeSnapshot(await api("GET", "/api/live")); // keeps the login alive; a 401 goes to the login page
      connect();
    } catch (err) {
      status("disconnected", "off");
      if (err.status !== 401) setTimeout(renew, 5000);
    }
  }

  function status(text, kind) {
    const s = document.getElementById("live-status");
    s.textContent = text;
    s.className = `live-status badge ${kind}`;
  }

  // --- rendering ---------------------------------------------------------------------------------------------
  function ago(t) {
    const s = Math.max(0, Math.round(now() - t));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function where(c) {
    if (c.phase === "queue") return el("span", {}, "waiting in ", el("b", {}, c.queue));
    if (c.phase === "ringing") return el("span", {}, el("b", {}, c.queue), ", ringing ", el("b", {}, agentName(c.agent)));
    if (c.phase === "agent") return el("span", {}, "with an agent (", c.queue, ")");
    if (c.phase === "overflow") return el("span", {}, "overflowed to ", el("b", {}, c.step));
    return el("span", {}, "flow step ", el("b", { class: "mono" }, c.step || "…"));
  }

  function agentName(id) { const a = byId(floor.agents, "id", id); return a ? a.name : id; }

  function render() {
    dirty = false;
    const shown = Date.now() / 1000;
    for (const t of unshown) lag.push(shown - t);
    unshown = [];
    if (lag.length > 5000) lag.splice(0, lag.length - 5000);
    const calls = document.getElementById("calls");
    calls.replaceChildren(...floor.calls.map((c) => el("tr", {
      "data-call": c.call_id, "data-phase": c.phase, class: open && open.call_id === c.call_id ? "open" : "",
      onclick: () => showTranscript(c.call_id),
    },
    el("td", { class: "mono" }, c.caller || "unknown"), el("td", {}, where(c)),
    el("td", { class: "ago", "data-since": c.since }, ago(c.since)), el("td", {}, c.agent ? agentName(c.agent) : ""),
    el("td", { class: "last" }, c.last), el("td", { class: "muted mono" }, c.call_id.slice(0, 8)))));
    document.getElementById("no-calls").hidden = floor.calls.length > 0 || !floor.running;
    document.getElementById("call-count").textContent = floor.calls.length;
    renderQueues();
    renderAgents();
    renderAlerts();
    renderLatency();
    const w = document.getElementById("live-workers");
    w.textContent = floor.workers_up === null || floor.workers_up === undefined ? "" : `${floor.workers_up} of ${floor.workers_expected} media workers up`;
  }

  function renderQueues() {
    document.getElementById("queues").replaceChildren(...floor.queues.map((q) => {
      const inQueue = floor.calls.filter((c) => c.queue === q.name && (c.phase === "queue" || c.phase === "ringing"));
      const oldest = inQueue.length ? Math.min(...inQueue.map((c) => c.since)) : null;
      const free = floor.agents.filter((a) => a.state === "available" && a.queues.includes(q.name)).map((a) => a.name);
      const sl = q.service_level === null ? "—" : `${Math.round(q.service_level * 100)}%`;
      const slBad = q.service_level !== null && q.service_level < q.service_level_target;
      const waitBad = oldest !== null && q.wait_alert_seconds > 0 && now() - oldest > q.wait_alert_seconds;
      const modes = { open: ["Pause", "paused"], paused: ["Open", "open"], draining: ["Open", "open"] };
      const [label, next] = modes[q.mode];
      return el("tr", { "data-queue": q.name },
        el("td", {}, el("b", {}, q.name), q.mode !== "open" ? el("span", { class: "badge ab" }, q.mode) : null),
        el("td", {}, String(inQueue.length)),
        el("td", { class: waitBad ? "bad" : "", ...(oldest !== null ? { "data-since": oldest } : {}) }, oldest === null ? "—" : ago(oldest)),
        el("td", { class: slBad ? "bad" : "" }, sl, el("span", { class: "muted" }, `target ${Math.round(q.service_level_target * 100)}% within ${q.service_level_seconds} s`)),
        el("td", {}, String(q.answered_today)), el("td", {}, String(q.abandoned_today)),
        el("td", {}, free.length ? free.join(", ") : el("span", { class: "muted" }, "nobody")),
        el("td", { class: "actions" },
          el("button", { type: "button", onclick: () => setMode(q.name, next) }, label),
          q.mode === "open" ? el("button", { type: "button", onclick: () => setMode(q.name, "draining") }, "Drain") : null));
    }));
  }

  function renderAgents() {
    document.getElementById("agents").replaceChildren(...floor.agents.map((a) => el("tr", { "data-agent": a.id },
      el("td", {}, a.name), el("td", {}, el("span", { class: `badge state-${a.state}` }, a.state.replace("_", " "))),
      el("td", { "data-since": a.since }, ago(a.since)), el("td", { class: "muted" }, a.queues.join(", ")),
      el("td", { class: "actions" }, a.state === "offline" ? null
        : el("button", { type: "button", class: "danger", onclick: () => logout(a) }, "Log out")))));
  }

  function renderAlerts() {
    document.getElementById("alerts").replaceChildren(...floor.alerts.map((a) => el("li", { "data-alert": a.key },
      el("b", {}, a.kind.replace("_", " ")), " ", a.message, el("span", { class: "muted" }, ` · for ${ago(a.since)}`))));
  }

  function renderLatency() {
    const l = floor.latency;
    const cutoff = now() - l.window_seconds;
    l.points = l.points.filter(([t]) => t >= cutoff);
    const sorted = l.points.map((p) => p[1]).sort((a, b) => a - b);
    const q = (f) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(f * sorted.length) - 1))] : null);
    l.p50 = q(0.5); l.p95 = q(0.95); l.count = sorted.length;
    document.getElementById("latency-summary").textContent = l.count
      ? `p50 ${l.p50.toFixed(2)} s · p95 ${l.p95.toFixed(2)} s · ${l.count} turn${l.count === 1 ? "" : "s"} in ${Math.round(l.window_seconds / 60)} min`
      : `no turns in the last ${Math.round(l.window_seconds / 60)} min`;
    const svg = document.getElementById("latency-chart");
    const W = 460, H = 170, left = 34, bottom = 18;
    const top = Math.max(2, l.limit * 1.3, ...sorted.slice(-1));
    const x = (t) => left + ((t - cutoff) / l.window_seconds) * (W - left - 6);
    const y = (s) => H - bottom - (s / top) * (H - bottom - 8);
    const ns = "http://www.w3.org/2000/svg";
    const mk = (tag, attrs) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); return n; };
    const parts = [mk("line", { x1: left, x2: W - 6, y1: y(0), y2: y(0), class: "axis" })];
    for (const s of [0, top / 2, top]) {
      const label = mk("text", { x: left - 4, y: y(s) + 4, class: "tick", "text-anchor": "end" });
      label.textContent = `${s.toFixed(1)}`;
      parts.push(label);
    }
    if (l.limit > 0) parts.push(mk("line", { x1: left, x2: W - 6, y1: y(l.limit), y2: y(l.limit), class: "limit" }));
    for (const [t, s] of l.points) parts.push(mk("circle", { cx: x(t).toFixed(1), cy: y(s).toFixed(1), r: 3, class: s > l.limit && l.limit > 0 ? "dot over" : "dot" }));
    const caption = mk("text", { x: W - 6, y: H - 3, class: "tick", "text-anchor": "end" });
    caption.textContent = "now";
    parts.push(caption);
    svg.replaceChildren(...parts);
  }

  function tick() { // time in step, in queue, in state: counted on this page between records
    for (const cell of document.querySelectorAll("[data-since]")) cell.textContent = ago(Number(cell.dataset.since));
  }

  // --- transcript --------------------------------------------------------------------------------------------
  async function showTranscript(callId) {
    try {
      const data = await api("GET", `/api/live/calls/${encodeURIComponent(callId)}`);
      open = data.call;
      document.getElementById("transcript").hidden = false;
      document.getElementById("transcript-title").textContent = `Call from ${data.call.caller || "unknown"}`;
      document.getElementById("transcript-where").textContent = `${data.call.flow} version ${data.call.version ?? "?"} · call ${data.call.call_id}`;
      document.getElementById("transcript-turns").replaceChildren();
      data.turns.forEach(addTurn);
      render();
    } catch (err) { toast(err.message, "error"); }
  }

  function addTurn(t) {
    const list = document.getElementById("transcript-turns");
    list.append(el("li", { class: `turn ${t.speaker}` }, el("span", { class: "who" }, who(t.speaker)),
      el("span", { class: "text" }, t.text), t.intent ? el("span", { class: "badge" }, t.intent) : null));
    list.scrollTop = list.scrollHeight;
  }

  function endTranscript() {
    if (!open) return;
    const id = open.call_id;
    open = null;
    document.getElementById("transcript-where").replaceChildren("The call has ended. ", el("a", { href: `/calls/${encodeURIComponent(id)}` }, "Open its record"));
  }

  document.getElementById("transcript-close").addEventListener("click", () => {
    open = null;
    document.getElementById("transcript").hidden = true;
    render();
  });

  // --- actions -------------------------------------------------------------------------------------------------
  async function setMode(queue, mode) {
    try {
      await api("POST", `/api/live/queues/${encodeURIComponent(queue)}/mode`, { mode });
      toast(`Queue ${queue} is ${mode === "open" ? "open" : mode}`);
    } catch (err) { toast(err.message, "error"); }
  }

  async function logout(agent) {
    if (!window.confirm(`Log ${agent.name} out? They get no more calls until they log in again.`)) return;
    try {
      const r = await api("POST", `/api/live/agents/${encodeURIComponent(agent.id)}/logout`);
      toast(r.state === "offline" ? `${agent.name} is logged out` : `${agent.name} is logged out when the call ends`);
    } catch (err) { toast(err.message, "error"); }
  }

  takeSnapshot(floor);
  connect();
  setInterval(() => { if (dirty) render(); else tick(); }, 1000);
  const frame = () => { if (dirty) render(); requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
})();
