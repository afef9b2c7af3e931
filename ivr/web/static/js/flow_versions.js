// Flow page: versions (compare with live, make one live again in one click), the A/B test, and the versions
// compared on the calls they took (containment, transfers, no-match rate, call length).
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const page = window.flowPage;
  const data = page.data;
  const $ = (id) => document.getElementById(id);

  async function source(version) {
    return (await api("GET", `${page.base}/versions/${version}`)).source;
  }

  for (const btn of document.querySelectorAll(".version-diff")) {
    btn.addEventListener("click", async () => {
      const v = Number(btn.dataset.version);
      try {
        const text = await source(v);
        const live = data.live_source || "";
        page.showDiff(`Version ${v} and the live version ${data.live ?? ""}`, live, text,
          `Left: live (version ${data.live}). Right: version ${v}.`);
      } catch (e) { if (e.status !== 401) toast(e.message, "error"); }
    });
  }

  async function makeLive(version, btn) {
    if (btn) btn.disabled = true;
    try {
      const out = await api("POST", `${page.base}/live`, { version, expect_live: data.live });
      toast(`Version ${out.live} is live again: ${out.applied ? "new calls get it now" : out.error || "servers pick it up within a second"}`);
      setTimeout(() => location.reload(), 900);
    } catch (e) {
      if (e.status !== 401) toast(e.message, "error");
      if (btn) btn.disabled = false;
    }
  }
  for (const btn of document.querySelectorAll(".version-live")) {
    btn.addEventListener("click", () => makeLive(Number(btn.dataset.version), btn));
  }

  async function setAb(version, share) {
    try {
      const out = await api("PUT", `${page.base}/ab`, { version, share });
      toast(out.candidate ? `Version ${out.candidate} now takes ${out.share}% of new calls` : "A/B test ended: every new call gets the live version");
      setTimeout(() => location.reload(), 900);
    } catch (e) { if (e.status !== 401) toast(e.message, "error"); }
  }
  if ($("ab-form")) {
    $("ab-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      setAb(Number($("ab-version").value), Number($("ab-share").value));
    });
  }
  if ($("ab-end")) $("ab-end").addEventListener("click", () => setAb(null, 0));
  if ($("ab-promote")) $("ab-promote").addEventListener("click", () => makeLive(Number($("ab-promote").dataset.version), $("ab-promote")));

  // --- the comparison ------------------------------------------------------------------------
  const pct = (x) => (x == null ? "—" : `${(x * 100).toFixed(1)}%`);
  const secs = (x) => (x == null ? "—" : x < 90 ? `${x.toFixed(0)} s` : `${(x / 60).toFixed(1)} min`);

  async function loadStats() {
    const body = $("stats-table").querySelector("tbody");
    try {
      const stats = await api("GET", `${page.base}/stats?days=${$("stats-days").value}`);
      body.replaceChildren();
      for (const v of stats.versions) {
        const tag = v.live ? el("span", { class: "badge live" }, "live") : v.candidate ? el("span", { class: "badge ab" }, `A/B ${data.share}%`) : null;
        body.append(el("tr", { "data-testid": `stats-row-${v.version ?? "none"}` },
          el("td", {}, v.version == null ? "(no version recorded)" : `version ${v.version} `, tag),
          el("td", {}, String(v.calls)),
          el("td", {}, `${pct(v.containment)} `, el("span", { class: "muted small" }, `(${v.contained} of ${v.answered})`)),
          el("td", {}, `${pct(v.transfer_rate)} `, el("span", { class: "muted small" }, `(${v.transferred})`)),
          el("td", {}, `${pct(v.no_match_rate)} `, el("span", { class: "muted small" }, `(of ${v.caller_turns} turns)`)),
          el("td", {}, `${secs(v.mean_seconds)} / ${secs(v.median_seconds)}`)));
      }
      if (!stats.versions.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No calls in this period.")));
    } catch (e) {
      if (e.status !== 401) body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "error" }, e.message)));
    }
  }
  $("stats-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadStats(); });
  let loaded = false;
  document.addEventListener("flow-tab", (ev) => { if (ev.detail === "ab" && !loaded) { loaded = true; loadStats(); } });
})();
