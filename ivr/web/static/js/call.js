// A call's page: the stereo recording as a waveform (caller on top, IVR/agent below, PCI pauses marked),
// the transcript beside it in sync (the turn being played is highlighted; clicking a turn seeks there),
// the checksum verified on open, and the steps the call went through outlined on the flow graph.
// window.callPage lets other panels of this page (scoring, corrections) seek and read the data.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const turns = [...document.querySelectorAll("#turns li.turn")].map((li) => ({
    li, start: li.dataset.start === "" ? null : Number(li.dataset.start), end: li.dataset.end === "" ? null : Number(li.dataset.end),
  }));
  const timed = turns.filter((t) => t.start !== null);
  const rec = data.recordings.find((r) => !r.purged) || null;
  const page = { data, ws: null, current: null, seek: (seconds) => {} };
  window.callPage = page;

  for (const el of document.querySelectorAll("[data-iso]")) el.textContent = ivr.when(el.dataset.iso);

  const clock = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;

  // The turn playing at `t`: the last one started by then, while it lasts (or until the next one starts).
  function turnAt(t) {
    let found = null;
    for (const turn of timed) {
      if (turn.start <= t + 0.05) found = turn;
      else break;
    }
    return found;
  }

  function highlight(t) {
    const turn = turnAt(t);
    if (turn === page.current) return;
    if (page.current) page.current.li.classList.remove("playing");
    page.current = turn;
    if (turn) {
      turn.li.classList.add("playing");
      turn.li.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  async function checksum() {
    const badge = document.getElementById("checksum");
    try {
      const v = await ivr.api("GET", rec.verify_url);
      badge.textContent = v.state === "verified" ? "checksum verified" : v.state === "mismatch" ? "checksum MISMATCH" : v.state;
      badge.className = "badge " + (v.state === "verified" ? "on" : v.state === "mismatch" ? "fail" : "");
      badge.title = `${v.message}\nstored:   ${v.expected}\ncomputed: ${v.actual}`;
      badge.dataset.state = v.state;
    } catch (e) {
      badge.textContent = "checksum not checked";
      badge.title = e.message;
    }
  }

  async function player() {
    const regions = WaveSurfer.Regions.create();
    const ws = WaveSurfer.create({
      container: "#waveform", height: 64, normalize: true, cursorColor: "#b42318", cursorWidth: 2, dragToSeek: true,
      splitChannels: [{ waveColor: "#8fb3ea", progressColor: "#1f5fbf" }, { waveColor: "#9fd3b0", progressColor: "#1b7f4a" }],
      plugins: [regions, WaveSurfer.Timeline.create({ height: 14, style: { fontSize: "10px", color: "#5f6b7e" } })],
    });
    page.ws = ws;
    const play = document.getElementById("play");
    const shown = document.getElementById("clock");
    ws.on("ready", (duration) => {
      play.disabled = false;
      shown.textContent = `${clock(0)} / ${clock(duration)}`;
      for (const [start, end] of rec.pauses || []) {
        regions.addRegion({ start, end: Math.max(end, start + 0.05), color: "rgba(180, 35, 24, 0.18)", drag: false,
          resize: false, content: "PCI pause" });
      }
      document.getElementById("waveform").dataset.ready = "1";
    });
    ws.on("timeupdate", (t) => {
      shown.textContent = `${clock(t)} / ${clock(ws.getDuration())}`;
      highlight(t);
    });
    ws.on("play", () => { play.textContent = "Pause"; });
    ws.on("pause", () => { play.textContent = "Play"; });
    ws.on("finish", () => { play.textContent = "Play"; });
    ws.on("error", (e) => ivr.toast(`The recording cannot be played: ${e.message || e}`, "error"));
    play.addEventListener("click", () => ws.playPause());
    document.getElementById("speed").addEventListener("change", (ev) => ws.setPlaybackRate(Number(ev.target.value)));
    page.seek = (seconds) => {
      ws.setTime(Math.min(seconds, ws.getDuration() || seconds));
      highlight(seconds);
      if (!ws.isPlaying()) ws.play();
    };
    // One request (one audit line) per opening: the waveform and the player share the downloaded file.
    const res = await fetch(rec.audio_url, { credentials: "same-origin" });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      ivr.toast(body.error || `The recording cannot be loaded (${res.status})`, "error");
      return;
    }
    await ws.loadBlob(await res.blob());
  }

  for (const turn of turns) {
    const go = () => { if (turn.start !== null && page.ws) page.seek(turn.start); };
    turn.li.addEventListener("click", (ev) => { if (!ev.target.closest("button, a, input, select, textarea")) go(); });
    turn.li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && ev.target === turn.li) go(); });
  }

  // The flows area's graph script draws the version the call ran; the call's steps are outlined on it.
  window.flowPage = { onChecked(render) { this.render = render; } };
  // Replaying the call takes the flow's runner (built once per version), so the path comes after the page.
  async function path() {
    const note = document.getElementById("path-note");
    let traced;
    try {
      traced = await ivr.api("GET", data.path_url);
    } catch (e) {
      note.textContent = `The path cannot be traced: ${e.message}`;
      return;
    }
    page.path = traced;
    note.textContent = traced.note;
    document.getElementById("path").replaceChildren(...traced.steps.map((s) => traced.understood.includes(s)
      ? ivr.el("li", { class: "understood", title: "the caller's input was understood here" }, s) : ivr.el("li", {}, s)));
    if (traced.version !== null) await graph(traced);
  }

  async function graph(traced) {
    if (!document.getElementById("graph")) return;
    const url = `/api/flows/${encodeURIComponent(traced.flow)}/graph?version=${traced.version}`;
    try {
      const checked = await ivr.api("GET", url);
      window.flowPage.render(checked);
    } catch (e) {
      document.getElementById("graph-hover").textContent = `The flow graph cannot be drawn: ${e.message}`;
      return;
    }
    const cy = window.flowGraph;
    if (!cy) return;
    cy.style().selector("node.onpath").style({ "border-width": 4, "border-color": "#f5b400", "background-color": "#fff7db" })
      .selector("node.understood").style({ "border-color": "#1b7f4a" })
      .selector("edge.onpath").style({ width: 4, "line-color": "#f5b400", "target-arrow-color": "#f5b400" }).update();
    // The replay names the steps where the call waited for the caller; the steps it passed through in
    // between (prompts, branches, lookups) are the shortest way between two of them on the graph.
    const start = cy.nodes("[?start]").first();
    const steps = start.nonempty() && traced.steps.length ? [start.id(), ...traced.steps] : traced.steps;
    steps.forEach((s, i) => {
      const node = cy.getElementById(s);
      node.addClass("onpath");
      if (traced.understood.includes(s)) node.addClass("understood");
      if (i === 0 || steps[i - 1] === s) return;
      const from = cy.getElementById(steps[i - 1]);
      if (from.empty() || node.empty()) return;
      const way = cy.elements().aStar({ root: from, goal: node, directed: true });
      if (way.found) way.path.addClass("onpath");
    });
    document.getElementById("graph").dataset.path = steps.join(" ");
  }

  if (rec) {
    checksum();
    player().catch((e) => ivr.toast(`The recording cannot be loaded: ${e.message}`, "error"));
  }
  path();
})();
