// A call's review panel: its reviews, a form to score it on a scorecard, and a verdict on each caller turn.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const panel = document.getElementById("qa-review");
  if (!panel) return;
  const callId = panel.dataset.callId;
  const base = `/api/calls/${encodeURIComponent(callId)}`;
  const pageData = document.getElementById("page-data");
  let cards = [];

  const fmt = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(1));
  const badge = (r) => r.failed ? el("span", { class: "badge fail" }, "failed")
    : r.passed ? el("span", { class: "badge on" }, "passed") : el("span", { class: "badge" }, "below pass mark");

  function showReviews(reviews) {
    const box = document.getElementById("qa-reviews");
    box.replaceChildren();
    if (!reviews.length) { box.append(el("p", { class: "muted" }, "Not reviewed yet.")); return; }
    for (const r of reviews) {
      const card = cards.find((c) => c.id === r.scorecard_id);
      const labels = {};
      if (card) for (const s of card.sections) for (const c of s.criteria) labels[c.id] = c.label;
      const answers = el("ul", { class: "answers" }, r.answers.map((a) => el("li", {},
        el("span", { class: "crit" }, labels[a.criterion] || a.criterion), " ",
        el("strong", {}, a.value.toUpperCase()), a.comment ? el("span", { class: "muted" }, ` — ${a.comment}`) : null)));
      box.append(el("details", { class: "review", "data-reviewer": r.reviewer },
        el("summary", {}, el("strong", { class: "score" }, fmt(r.score)), " ", badge(r), " ",
          `${r.scorecard} · ${r.reviewer} · ${window.ivr.when(r.updated_at)}`),
        r.comment ? el("p", {}, r.comment) : null, answers));
    }
  }

  function choices(c) {
    const values = c.type === "scale" ? ["1", "2", "3", "4", "5"] : ["yes", "no"];
    if (c.allow_na) values.push("na");
    return values;
  }

  function showForm(card, previous) {
    const box = document.getElementById("score-criteria");
    box.replaceChildren();
    const given = {};
    if (previous) for (const a of previous.answers) given[a.criterion] = a;
    for (const s of card.sections) {
      const rows = s.criteria.map((c) => {
        const name = `crit-${c.id}`;
        const radios = choices(c).map((v) => el("label", { class: "choice" },
          el("input", { type: "radio", name, value: v, checked: given[c.id] && given[c.id].value === v }),
          v === "na" ? "N/A" : v));
        return el("div", { class: "criterion", "data-criterion": c.id },
          el("div", { class: "crit-label" }, c.label, c.fatal ? el("span", { class: "badge fail", title: "A no fails the whole card" }, "fatal") : null,
            el("span", { class: "muted" }, ` ×${c.weight}`)),
          el("div", { class: "choices", role: "radiogroup", "aria-label": c.label }, radios),
          el("input", { class: "crit-comment", placeholder: "Comment", maxlength: 2000, "aria-label": `Comment on ${c.label}`,
            value: given[c.id] ? given[c.id].comment : "" }));
      });
      box.append(el("fieldset", {}, el("legend", {}, s.title), rows));
    }
    document.getElementById("score-comment").value = previous ? previous.comment : "";
  }

  async function loadReviews() {
    const data = await api("GET", `${base}/reviews`);
    cards = data.scorecards;
    showReviews(data.reviews);
    if (!data.can_score) return;
    const form = document.getElementById("score-form");
    if (!cards.length) {
      form.hidden = true;
      document.getElementById("qa-reviews").append(el("p", { class: "hint" }, "No active scorecard yet: ",
        el("a", { href: "/scorecards" }, "define one"), "."));
      return;
    }
    const select = document.getElementById("score-card");
    const chosen = select.value;
    select.replaceChildren(...cards.map((c) => el("option", { value: c.id }, c.name)));
    if (chosen) select.value = chosen;
    const mine = () => data.reviews.find((r) => r.scorecard_id === Number(select.value) && r.reviewer === panel.dataset.user);
    select.onchange = () => showForm(cards.find((c) => c.id === Number(select.value)), mine());
    showForm(cards.find((c) => c.id === Number(select.value)), mine());
    form.hidden = false;
  }

  document.getElementById("score-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const answers = [];
    for (const row of document.querySelectorAll("#score-criteria .criterion")) {
      const picked = row.querySelector("input[type=radio]:checked");
      answers.push({ criterion: row.dataset.criterion, value: picked ? picked.value : "",
        comment: row.querySelector(".crit-comment").value });
    }
    const missing = answers.filter((a) => !a.value).length;
    if (missing) { toast(`Answer every criterion (${missing} left)`, "error"); return; }
    try {
      const saved = await api("POST", `${base}/reviews`, { scorecard_id: Number(document.getElementById("score-card").value),
        answers, comment: document.getElementById("score-comment").value });
      document.getElementById("score-live").textContent = `Score ${fmt(saved.score)}${saved.failed ? " (failed)" : ""}`;
      toast(`Scored ${fmt(saved.score)}`);
      await loadReviews();
    } catch (e) { toast(e.message, "error"); }
  });

  // --- verdicts on caller turns ---------------------------------------------------------------
  async function turns() {
    if (pageData) {
      const d = JSON.parse(pageData.textContent);
      if (d && d.turns) return d.turns;
    }
    return (await api("GET", base)).turns;
  }

  const at = (s) => (s === null || s === undefined ? "" : `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`);

  async function loadTurns() {
    const data = await api("GET", `${base}/corrections`);
    const byTurn = Object.fromEntries(data.corrections.map((c) => [c.turn_uid, c]));
    const tbody = document.querySelector("#turn-verdicts tbody");
    tbody.replaceChildren();
    for (const t of (await turns()).filter((x) => x.speaker === "caller")) {
      const c = byTurn[t.uid];
      const verdict = !c ? el("span", { class: "muted" }, "–")
        : c.verdict === "confirmed" ? el("span", { class: "badge on" }, "right")
        : el("span", { class: "badge draft" }, `→ ${c.intent || "(none)"}`, c.misrecognized ? ` “${c.said}”` : "",
          c.applied_at ? " · in draft" : "");
      const row = el("tr", { "data-turn": t.uid },
        el("td", { class: "mono" }, at(t.start)),
        el("td", {}, t.text, t.confidence !== null && t.confidence !== undefined ? el("span", { class: "muted" }, ` (${t.confidence.toFixed(2)})`) : null),
        el("td", {}, t.intent || el("span", { class: "muted" }, "(none)"),
          t.intent_score !== null && t.intent_score !== undefined ? el("span", { class: "muted" }, ` ${t.intent_score.toFixed(2)}`) : null),
        el("td", { class: "verdict" }, verdict),
        el("td", { class: "actions" },
          t.masked ? el("span", { class: "muted" }, "masked") : [
            el("button", { type: "button", class: "confirm", onclick: () => save(t, { intent: t.intent, misrecognized: false, said: "", verdict: "confirmed" }) }, "Right"),
            " ",
            el("button", { type: "button", class: "correct", onclick: () => editor(row, t, c, data.intents) }, "Correct…"),
          ]));
      tbody.append(row);
    }
    document.getElementById("qa-corrections").hidden = false;
  }

  function editor(row, t, c, intents) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("correction-editor")) { next.remove(); return; }
    const said = el("input", { class: "said", placeholder: "What the caller really said", value: c ? c.said : "",
      "aria-label": "What the caller really said", size: 40 });
    const misheard = el("input", { type: "checkbox", class: "misheard", checked: c ? c.misrecognized : false });
    const pick = el("select", { class: "intent", "aria-label": "The intent the caller meant" },
      el("option", { value: "" }, "(none of the flow's intents)"),
      intents.map((i) => el("option", { value: i.name }, i.label === i.name ? i.name : `${i.name} — ${i.label}`)));
    pick.value = c ? c.intent : t.intent;
    said.addEventListener("input", () => { misheard.checked = said.value.trim() !== "" && said.value.trim() !== t.text; });
    const form = el("form", { class: "inline" },
      el("label", {}, "Intent meant", pick),
      el("label", { class: "check" }, misheard, " Misrecognized"),
      el("label", {}, "Really said", said),
      el("button", { type: "submit", class: "primary" }, "Save correction"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      save(t, { intent: pick.value, misrecognized: misheard.checked, said: misheard.checked ? said.value : "" });
    });
    row.after(el("tr", { class: "correction-editor" }, el("td", { colspan: 5 }, form)));
    pick.focus();
  }

  async function save(t, body) {
    try {
      const c = await api("PUT", `/api/turns/${encodeURIComponent(t.uid)}/correction`, body);
      toast(c.verdict === "confirmed" ? "Marked right" : `Corrected to ${c.intent || "(none)"}`);
      await loadTurns();
    } catch (e) { toast(e.message, "error"); }
  }

  loadReviews().catch((e) => toast(e.message, "error"));
  if (panel.dataset.role !== "agent") loadTurns().catch((e) => toast(e.message, "error"));
})();
