// The agent desk: my state, the screen pop of a call offered to me, its transcript as it grows, the disposition.
// A snapshot (`desk` event) and then the bus records that concern me, over server-sent events; the records are
// applied by the rules of ivr/session/desk.py (AgentDesk._apply), so a reopened page shows what this one shows.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  let desk = JSON.parse(document.getElementById("page-data").textContent);
  let skew = -Infinity; // server clock - browser clock, seconds
  let source = null;
  // When each screen pop was on screen (this browser's wall clock, seconds): the browser test and bench read it.
  const shown = {};
  window.ivrDesk = { shown, desk: () => desk };
  const $ = (id) => document.getElementById(id);
  const now = () => Date.now() / 1000 + (skew === -Infinity ? 0 : skew);
  const LABEL = { available: "available", ringing: "ringing", busy: "on a call", wrap_up: "wrap-up",
    not_ready: "not ready", offline: "logged out" };
  const TITLE = { ringing: "Incoming call", talking: "On call", ended: "Call ended" };

  function take(view) {
    desk = view;
    skew = Math.max(skew, view.now - Date.now() / 1000);
    render();
  }

  function apply(r) {
    if (r.seq <= desk.seq) return;
    desk.seq = r.seq;
    const me = desk.agent && r.agent_id === desk.agent.id;
    const c = desk.call && desk.call.call_id === r.call_id ? desk.call : null;
    if (r.kind === "screen_pop" && me) {
      desk.call = { call_id: r.call_id, phase: "ringing", pop: r.pop, turns: r.turns, popped_at: r.t, ended_at: null,
        disposition: "", notes: "" };
      $("disposition").value = ""; $("notes").value = ""; $("saved").textContent = "";
      return "pop";
    }
    if (r.kind === "agent_state" && me) return "state";
    if (!c) return null;
    if (["say", "play"].includes(r.kind)) c.turns.push({ t: r.t, speaker: "ivr", text: r.text });
    else if (r.kind === "intent_detected") c.turns.push({ t: r.t, speaker: "caller", text: r.text, intent: r.intent });
    else if (r.speaker !== undefined && r.text !== undefined) c.turns.push({ t: r.t, speaker: r.speaker, text: r.text });
    else if (r.kind === "answered" && me) c.phase = "talking";
    else if ((r.kind === "no_answer" || r.kind === "offer_cancelled") && me && c.phase === "ringing") desk.call = null;
    else if ((r.kind === "hangup" || r.kind === "call_ended") && c.phase !== "ended") { c.phase = "ended"; c.ended_at = r.t; }
    return "call";
  }

  // --- rendering ------------------------------------------------------------------------------------------
  function ago(t) {
    const s = Math.max(0, Math.round(now() - t));
    return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
  }

  function renderState() {
    const a = desk.agent;
    $("state-bar").hidden = !a;
    if (!a) return;
    const badge = $("state");
    badge.textContent = LABEL[a.state] || a.state;
    badge.className = `badge state-${a.state}`;
    badge.dataset.state = a.state;
    $("state-for").textContent = `for ${ago(a.since)}` + (a.state === "not_ready" && a.reason ? ` · ${a.reason}` : "");
    $("go-available").disabled = a.state === "available";
    const wrapping = a.state === "wrap_up";
    $("wrap-bar").hidden = !wrapping;
    if (wrapping) $("wrap-left").textContent = a.wrap_ends ? `ends in ${Math.max(0, Math.ceil(a.wrap_ends - now()))} s` : "";
  }

  function turnItem(t) {
    const who = t.speaker === "ivr" ? "IVR" : t.speaker === "agent" ? "You" : "Caller";
    return el("li", { class: `turn ${t.speaker}` }, el("span", { class: "who" }, who),
      el("span", { class: "text" }, t.text, t.intent ? el("span", { class: "muted" }, ` → ${t.intent}`) : null));
  }

  function renderCall() {
    const c = desk.call;
    $("pop").hidden = !c;
    $("no-call").hidden = !!c || !desk.agent;
    if (!c) return;
    const p = c.pop;
    $("pop").dataset.call = c.call_id;
    $("pop").dataset.phase = c.phase;
    $("pop-title").textContent = TITLE[c.phase] || "Call";
    $("pop-phase").textContent = c.phase === "ended" ? `ended ${ago(c.ended_at)} ago` : c.phase === "talking" ? "talking" : "your phone rings";
    $("pop-transcript").hidden = !p.transcript_url;
    if (p.transcript_url) $("pop-transcript").href = p.transcript_url;
    $("pop-caller").textContent = p.caller || "unknown number";
    const cust = p.customer;
    $("pop-customer-row").hidden = !cust;
    if (cust) $("pop-customer").textContent = [cust.name, cust.tier ? `(${cust.tier})` : "", cust.id ? `#${cust.id}` : "", cust.notes || ""].filter(Boolean).join(" ");
    $("pop-intent").textContent = p.intent || "none";
    $("pop-queue").textContent = p.queue + (p.priority ? ` · priority ${p.priority}` : "") + (p.skills.length ? ` · skills ${p.skills.join(", ")}` : "");
    $("pop-wait").textContent = `${Math.round(p.wait)} s in the queue`;
    $("pop-path").replaceChildren(...p.path.map((s) => el("li", {}, s)));
    const slots = Object.entries(p.slots || {});
    $("pop-no-slots").hidden = slots.length > 0;
    $("pop-slots").replaceChildren(...slots.map(([k, v]) => el("tr", {}, el("th", {}, k),
      el("td", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)))));
    const list = $("desk-turns");
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    list.replaceChildren(...c.turns.map(turnItem));
    if (stick) list.scrollTop = list.scrollHeight;
    $("turn-count").textContent = `${c.turns.length} turns`;
    $("wrap-form").hidden = c.phase === "ringing";
    if (c.disposition) $("saved").textContent = `Saved: ${c.disposition}`;
  }

  function render() { renderState(); renderCall(); }

  // --- the stream -----------------------------------------------------------------------------------------
  function status(text, kind) { const s = $("desk-status"); s.textContent = text; s.className = `live-status ${kind}`; }

  async function refresh() { try { take(await api("GET", "/api/desk")); } catch (e) { toast(e.message, "error"); } }

  function connect() {
    if (!desk.agent) return;
    status("connecting…", "");
    source = new EventSource("/api/desk/stream");
    source.addEventListener("desk", (e) => { take(JSON.parse(e.data)); status("live", "on"); });
    source.addEventListener("records", (e) => {
      let state = false, pop = null;
      for (const r of JSON.parse(e.data)) {
        const what = apply(r);
        if (what === "state") state = true;
        if (what === "pop") pop = r.call_id;
      }
      render();
      if (pop) {
        shown[pop] = Date.now() / 1000;
        // the phone rings once the pop is on screen: tell the server (it waits a moment at most for this)
        api("POST", `/api/desk/calls/${encodeURIComponent(pop)}/shown`).catch(() => {});
      }
      if (state) refresh(); // the state's reason and wrap-up end come with the desk
    });
    source.addEventListener("bye", () => { source.close(); refresh().then(connect); });
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) { status("disconnected", "off"); setTimeout(() => refresh().then(connect), 2000); }
      else status("reconnecting…", "off");
    };
  }

  // --- actions --------------------------------------------------------------------------------------------
  async function setState(state) {
    try { take(await api("POST", "/api/desk/state", { state, reason: $("reason").value })); }
    catch (e) { toast(e.message, "error"); }
  }
  $("go-available").addEventListener("click", () => setState("available"));
  $("go-not-ready").addEventListener("click", () => setState("not_ready"));
  $("go-logged-out").addEventListener("click", () => setState("logged_out"));
  $("end-wrap").addEventListener("click", () => setState("available"));

  async function save(ready) {
    const c = desk.call;
    if (!c) return;
    if (!$("disposition").value) { toast("Pick a disposition first.", "error"); return; }
    try {
      const saved = await api("POST", `/api/desk/calls/${encodeURIComponent(c.call_id)}/disposition`,
        { disposition: $("disposition").value, notes: $("notes").value, ready });
      c.disposition = saved.disposition; c.notes = saved.notes;
      toast(`Saved: ${saved.disposition}`);
      await refresh();
    } catch (e) { toast(e.message, "error"); }
  }
  $("wrap-form").addEventListener("submit", (e) => { e.preventDefault(); save(true); });
  $("save-only").addEventListener("click", () => save(false));

  if (desk.call) { $("disposition").value = desk.call.disposition || ""; $("notes").value = desk.call.notes || ""; }
  render();
  connect();
  setInterval(renderState, 1000); // the time in state and the wrap-up countdown
})();
