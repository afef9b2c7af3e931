// Calls page: the search form is a plain GET form; this adds sorting by column, paging, the CSV link,
// local times, and the search words highlighted in what was said.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const here = new URLSearchParams(location.search);
  const link = (changes, path = "/calls") => {
    const p = new URLSearchParams(here);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === "") p.delete(k); else p.set(k, v);
    }
    for (const [k, v] of [...p.entries()]) if (v === "") p.delete(k);
    const qs = p.toString();
    return path + (qs ? "?" + qs : "");
  };

  for (const th of document.querySelectorAll("#calls th[data-sort]")) {
    const key = th.dataset.sort;
    const on = data.query.sort === key;
    const order = on && data.query.order === "desc" ? "asc" : "desc";
    const a = ivr.el("a", { href: link({ sort: key, order, offset: null }), title: `Sort by ${th.textContent.toLowerCase()}` },
      th.textContent, on ? (data.query.order === "desc" ? " ▼" : " ▲") : "");
    th.textContent = "";
    th.append(a);
    if (on) th.classList.add("sorted");
  }

  const prev = document.getElementById("prev");
  const next = document.getElementById("next");
  if (data.offset > 0) {
    prev.hidden = false;
    prev.href = link({ offset: Math.max(0, data.offset - data.limit) || null });
  }
  if (data.offset + data.calls.length < data.total || data.more) {
    next.hidden = false;
    next.href = link({ offset: data.offset + data.limit });
  }
  document.getElementById("export").href = link({ offset: null, limit: null }, "/api/calls.csv");

  for (const a of document.querySelectorAll("a[data-iso]")) a.textContent = ivr.when(a.dataset.iso);

  // Highlight the searched words (a trailing * matches any ending) in the quoted turn.
  const words = (data.query.text.match(/[\p{L}\p{N}_]+\*?/gu) || []).map((w) =>
    w.endsWith("*") ? w.slice(0, -1).replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "[\\p{L}\\p{N}_]*"
      : w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "[\\p{L}\\p{N}_]*");
  if (words.length) {
    const re = new RegExp(`(${words.join("|")})`, "giu");
    for (const td of document.querySelectorAll("#calls td.said")) {
      const text = td.firstChild && td.firstChild.nodeType === 3 ? td.firstChild.textContent : "";
      if (!text) continue;
      const parts = text.split(re);
      const frag = document.createDocumentFragment();
      parts.forEach((part, i) => frag.append(i % 2 ? ivr.el("mark", {}, part) : part));
      td.firstChild.replaceWith(frag);
    }
  }

  // The whole row opens the call (the date is the real link, for keyboards and new tabs).
  for (const row of document.querySelectorAll("#calls tbody tr")) {
    row.addEventListener("click", (ev) => {
      if (ev.target.closest("a")) return;
      location.href = row.querySelector("a.open").href;
    });
  }
})();
