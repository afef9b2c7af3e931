// Corrections page: add picked corrections to the flow's draft as intent examples; the confusion report per intent.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const apply = document.getElementById("apply");
  const picks = () => [...document.querySelectorAll("#corrections input.pick:checked")].map((x) => x.closest("tr").dataset.turn);
  const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(1)}%`);

  if (apply) {
    const sync = () => { const n = picks().length; apply.disabled = !n; apply.textContent = `Add ${n || ""} selected to the draft of ${data.flow}`.replace("  ", " "); };
    document.getElementById("corrections").addEventListener("change", sync);
    const all = document.getElementById("all");
    if (all) all.addEventListener("change", () => {
      for (const x of document.querySelectorAll("#corrections input.pick:not(:disabled)")) x.checked = all.checked;
      sync();
    });
    apply.addEventListener("click", async () => {
      try {
        const r = await api("POST", `/api/flows/${encodeURIComponent(data.flow)}/corrections/apply`, { turn_uids: picks() });
        const box = document.getElementById("applied");
        const added = Object.entries(r.added);
        box.replaceChildren(...[
          el("h3", {}, added.length ? `Added to the draft (revision ${r.draft_revision})` : "Nothing new to add"),
          el("ul", {}, added.map(([intent, phrases]) => el("li", {}, el("strong", {}, intent), ": ", phrases.map((p) => `“${p}”`).join(", ")))),
          r.skipped.length ? el("p", { class: "muted" }, "Left out: ", r.skipped.map((s) => `“${s.text}” (${s.reason})`).join("; ")) : null,
          el("p", {}, el("a", { href: `/flows/${encodeURIComponent(data.flow)}` }, "Open the flow's draft →"), " The publish gate validates and tests it before it goes live."),
        ].filter(Boolean));
        if (r.draft_revision) document.getElementById("draft-state").textContent = `The draft is at revision ${r.draft_revision}.`;
        box.hidden = false;
        toast(added.length ? "Added to the draft" : "Nothing new to add");
        for (const uid of picks()) {
          const row = document.querySelector(`#corrections tr[data-turn="${uid}"]`);
          row.querySelector("input.pick").checked = false;
          row.querySelector("input.pick").disabled = true;
          row.lastElementChild.replaceChildren(el("span", { class: "badge live" }, `in draft r${r.draft_revision}`));
        }
        sync();
      } catch (e) { toast(e.message, "error"); }
    });
  }

  async function confusion() {
    const box = document.getElementById("confusion");
    const r = await api("GET", `/api/corrections/confusion?flow=${encodeURIComponent(data.flow || "")}`);
    if (!r.verdicts && !r.caller_yes && !r.caller_no) { box.replaceChildren(el("p", { class: "muted" }, "No verdicts yet.")); return; }
    const stat = (label, value) => el("span", { class: "stat" }, el("strong", {}, value), label);
    const wer = r.wer.wer === null ? "–" : pct(r.wer.wer);
    const perIntent = el("table", { class: "grid", id: "confusion-intents" },
      el("thead", {}, el("tr", {}, ["Intent meant", "Turns", "Recognized", "Recall", "Precision", "Mistaken for", "Wrongly detected for"].map((h) => el("th", {}, h)))),
      el("tbody", {}, r.intents.map((i) => el("tr", {},
        el("td", {}, el("strong", {}, i.intent)), el("td", { class: "num" }, i.meant), el("td", { class: "num" }, i.recognized),
        el("td", { class: "num" }, pct(i.recall)), el("td", { class: "num" }, pct(i.precision)),
        el("td", {}, i.mistaken_for.map((m) => `${m.intent} ×${m.count}`).join(", ")),
        el("td", {}, i.taken_from.map((m) => `${m.intent} ×${m.count}`).join(", "))))));
    const matrix = el("table", { class: "grid matrix", id: "confusion-matrix" },
      el("thead", {}, el("tr", {}, el("th", {}, "meant ↓ / detected →"), r.labels.map((l) => el("th", { class: "num" }, l)))),
      el("tbody", {}, r.matrix.map((row, i) => el("tr", {}, el("th", {}, r.labels[i]),
        row.map((n, j) => el("td", { class: `num ${n ? (i === j ? "hit" : "miss") : ""}` }, n || ""))))));
    box.replaceChildren(
      el("p", {}, stat("verdicts", r.verdicts), stat("marked right", r.confirmed), stat("corrected", r.corrected),
        stat("callers said yes to “Did you say …?”", r.caller_yes), stat("said no", r.caller_no),
        stat(`WER on ${r.wer.turns} retyped turns`, wer), stat(`WER on ${r.wer_reviewed.turns} reviewed turns`, pct(r.wer_reviewed.wer))),
      perIntent, el("h3", {}, "Confusion matrix"), matrix);
  }
  confusion().catch((e) => toast(e.message, "error"));
})();
