// Scorecards page: view a card's sections and criteria; admins and supervisors create and change cards.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const form = document.getElementById("card-editor");
  const sections = document.getElementById("sections");
  let editing = null; // the card being changed (null: a new one)

  const slug = (text, taken) => {
    let base = text.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 48) || "criterion";
    let id = base, n = 2;
    while (taken.has(id)) id = `${base}_${n++}`;
    taken.add(id);
    return id;
  };

  function criterionRow(c = {}) {
    const row = el("tr", { class: "crit", "data-id": c.id || "" },
      el("td", {}, el("input", { type: "text", class: "label", value: c.label || "", placeholder: "e.g. Greeted the caller by name", "aria-label": "Criterion" })),
      el("td", {}, el("select", { class: "type", "aria-label": "Answered" },
        el("option", { value: "yes_no", selected: c.type !== "scale" }, "yes / no"),
        el("option", { value: "scale", selected: c.type === "scale" }, "1 to 5"))),
      el("td", {}, el("input", { type: "number", class: "weight", min: "0.1", max: "100", step: "0.1", value: c.weight || 1, "aria-label": "Weight" })),
      el("td", {}, el("input", { type: "checkbox", class: "na", checked: !!c.allow_na, "aria-label": "N/A allowed" })),
      el("td", {}, el("input", { type: "checkbox", class: "fatal", checked: !!c.fatal, "aria-label": "Fails the whole card" })),
      el("td", {}, el("button", { type: "button", class: "link-remove", onclick: (ev) => ev.target.closest("tr").remove() }, "Remove")));
    return row;
  }

  function sectionBox(s = { title: "", criteria: [{}] }) {
    const body = el("tbody", {}, s.criteria.map(criterionRow));
    const box = el("div", { class: "section" },
      el("div", { class: "section-head" },
        el("label", {}, "Section", el("input", { class: "title", value: s.title, required: true, placeholder: "e.g. Opening" })),
        el("button", { type: "button", onclick: () => body.append(criterionRow()) }, "Add criterion"),
        el("button", { type: "button", onclick: () => box.remove() }, "Remove section")),
      el("table", { class: "criteria" },
        el("thead", {}, el("tr", {}, ["Criterion", "Answered", "Weight", "N/A allowed", "Fatal", ""].map((h) => el("th", {}, h)))),
        body));
    return box;
  }

  function open(card) {
    editing = card;
    form.hidden = false;
    document.getElementById("editor-title").textContent = card ? (data.can_edit ? `Edit ${card.name}` : card.name) : "New scorecard";
    form.elements.name.value = card ? card.name : "";
    form.elements.description.value = card ? card.description : "";
    form.elements.pass_mark.value = card ? card.pass_mark : 80;
    form.elements.active.checked = card ? card.active : true;
    sections.replaceChildren(...(card ? card.sections : [{ title: "Opening", criteria: [{}] }]).map(sectionBox));
    for (const x of form.querySelectorAll("input, select, button")) {
      if (!data.can_edit && x.id !== "close-editor") x.disabled = true;
    }
    form.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function collect() {
    const taken = new Set();
    const out = [];
    for (const box of sections.querySelectorAll(".section")) {
      const criteria = [];
      for (const row of box.querySelectorAll("tr.crit")) {
        const label = row.querySelector(".label").value.trim();
        if (!label) continue;
        let id = row.dataset.id;
        if (id && !taken.has(id)) taken.add(id); else id = slug(label, taken);
        criteria.push({ id, label, type: row.querySelector(".type").value, weight: Number(row.querySelector(".weight").value) || 1,
          allow_na: row.querySelector(".na").checked, fatal: row.querySelector(".fatal").checked });
      }
      out.push({ title: box.querySelector(".title").value.trim(), criteria });
    }
    return out;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { name: form.elements.name.value.trim(), description: form.elements.description.value.trim(),
      pass_mark: Number(form.elements.pass_mark.value), active: form.elements.active.checked, sections: collect() };
    if (body.sections.some((s) => !s.criteria.length)) { toast("Each section needs at least one criterion", "error"); return; }
    try {
      if (editing) await api("PUT", `/api/scorecards/${editing.id}`, { ...body, revision: editing.revision });
      else await api("POST", "/api/scorecards", body);
      toast(`Scorecard ${body.name} saved`);
      setTimeout(() => location.reload(), 500);
    } catch (e) { toast(e.message, "error"); }
  });

  document.getElementById("add-section").addEventListener("click", () => sections.append(sectionBox()));
  document.getElementById("close-editor").addEventListener("click", () => { form.hidden = true; });
  const create = document.getElementById("new-card");
  if (create) create.addEventListener("click", () => open(null));
  for (const row of document.querySelectorAll("#cards tbody tr[data-card]")) {
    const card = data.scorecards.find((c) => c.id === Number(row.dataset.card));
    row.querySelector(".open").addEventListener("click", () => open(card));
  }
})();
