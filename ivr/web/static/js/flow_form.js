// Flow page: the form of the step clicked in the graph. A change in the form asks the server to rewrite that
// step's YAML block (nothing else in the file moves); a change in the YAML refills the form from the next
// validation. Fields the form does not know stay as YAML under "Other fields".
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const page = window.flowPage;
  const $ = (id) => document.getElementById(id);
  const pane = $("step-pane");
  const form = $("step-form");
  let current = null;
  let busy = false;

  const stepIds = () => Object.keys((page.checked && page.checked.steps) || {});
  const intents = () => (page.checked && page.checked.intents) || [];

  function select(name, value, options, testid, attrs = {}) {
    const s = el("select", { name, "data-testid": testid, ...attrs });
    const opts = [...options];
    if (value && !opts.some(([v]) => v === value)) opts.push([value, `${value} (not defined)`]);
    for (const [v, label] of opts) s.append(el("option", { value: v, selected: v === (value ?? "") }, label));
    return s;
  }
  const stepSelect = (name, value, testid, attrs) => select(name, value, [["", "—"], ...stepIds().map((s) => [s, s])], testid, attrs);
  const intentSelect = (name, value, testid) => select(name, value, [["", "—"], ...intents().map((i) => [i, i])], testid);

  // Rows editors: options (menu), intents (ask/collect), conditions (branch).
  const ROWS = {
    options: { cols: [["keys", "Keys"], ["intent", "Intent"], ["phrases", "Phrases (comma-separated)"], ["next", "Go to"]],
      blank: { keys: "", intent: "", phrases: [], next: "" } },
    intentmap: { cols: [["intent", "Intent"], ["next", "Go to"]], blank: { intent: "", next: "" } },
    conditions: { cols: [["if", "If (e.g. order.status == \"shipped\")"], ["next", "Go to"]], blank: { if: "", next: "" } },
  };

  function cell(type, key, col, value, testid) {
    if (col === "next") return stepSelect(`${key}.${col}`, value, testid);
    if (col === "intent") return intentSelect(`${key}.${col}`, value, testid);
    const text = Array.isArray(value) ? value.join(", ") : value ?? "";
    return el("input", { name: `${key}.${col}`, value: text, "data-testid": testid, size: col === "keys" ? 5 : 24 });
  }

  function rowsEditor(spec, value) {
    const def = ROWS[spec.type];
    const table = el("table", { class: "grid compact rows", "data-key": spec.key, "data-type": spec.type, "data-testid": `step-field-${spec.key}` });
    table.append(el("thead", {}, el("tr", {}, ...def.cols.map(([, label]) => el("th", {}, label)), el("th", {}))));
    const body = el("tbody");
    (value || []).forEach((row, i) => {
      const tr = el("tr", { "data-testid": `${spec.key}-row-${i}` }, ...def.cols.map(([col]) => el("td", {}, cell(spec.type, spec.key, col, row[col], `${spec.key}-${i}-${col}`))));
      if (page.canEdit) {
        tr.append(el("td", {}, el("button", { type: "button", class: "link-button", title: "Remove", "data-testid": `${spec.key}-${i}-remove`,
          onclick: () => { tr.remove(); apply(); } }, "remove")));
      } else {
        for (const input of tr.querySelectorAll("input, select")) input.disabled = true;
      }
      body.append(tr);
    });
    table.append(body);
    if (!page.canEdit) return el("div", { class: "rows-wrap" }, table);
    const add = el("button", { type: "button", "data-testid": `${spec.key}-add`, onclick: () => {
      const rows = collectRows(table);
      rows.push({ ...def.blank });
      table.replaceWith(rowsEditor(spec, rows));
      add.remove();
    } }, `Add ${spec.type === "conditions" ? "condition" : spec.type === "options" ? "option" : "intent"}`);
    const wrap = el("div", { class: "rows-wrap" }, table, add);
    return wrap;
  }

  function collectRows(table) {
    const def = ROWS[table.dataset.type];
    return [...table.querySelectorAll("tbody tr")].map((tr) => {
      const row = {};
      for (const [col] of def.cols) {
        const input = tr.querySelector(`[name="${table.dataset.key}.${col}"]`);
        row[col] = col === "phrases" ? input.value.split(",").map((s) => s.trim()).filter(Boolean) : input.value.trim();
      }
      return row;
    });
  }

  function field(spec, value) {
    const id = `step-field-${spec.key}`;
    let input;
    if (spec.type in ROWS) return el("div", { class: "field" }, el("div", { class: "field-label" }, spec.label), rowsEditor(spec, value));
    if (spec.type === "prompts") input = el("textarea", { rows: Math.max(2, (value || []).length + 1) }, (value || []).join("\n"));
    else if (spec.type === "step") input = stepSelect(spec.key, value, id);
    else if (spec.type === "bool") input = select(spec.key, value === true ? "true" : value === false ? "false" : "", [["", "default"], ["true", "yes"], ["false", "no"]], id);
    else if (spec.type === "choice") input = select(spec.key, value ?? "", [["", "default"], ...spec.options.filter(Boolean).map((o) => [o, o])], id);
    else if (spec.type === "number" || spec.type === "integer") input = el("input", { type: "number", step: spec.type === "integer" ? "1" : "any", value: value ?? "" });
    else if (spec.type === "list") input = el("input", { value: (value || []).join(", ") });
    else input = el("input", { value: value ?? "" });
    input.id = id;
    input.name = spec.key;
    input.dataset.testid = id;
    input.dataset.type = spec.type;
    if (!page.canEdit) input.disabled = true;
    return el("label", { class: "field", for: id }, spec.label, spec.help ? el("span", { class: "hint" }, ` (${spec.help})`) : null, input);
  }

  function collect() {
    const fields = {};
    for (const spec of page.data.form[current.kind] || []) {
      if (spec.type in ROWS) { fields[spec.key] = collectRows(form.querySelector(`table[data-key="${spec.key}"]`)); continue; }
      const input = form.querySelector(`[name="${spec.key}"]`);
      const v = input.value;
      if (spec.type === "prompts") fields[spec.key] = v.split("\n").map((s) => s.trim()).filter(Boolean);
      else if (spec.type === "bool") fields[spec.key] = v === "" ? null : v === "true";
      else if (spec.type === "number" || spec.type === "integer") fields[spec.key] = v === "" ? null : Number(v);
      else if (spec.type === "list") fields[spec.key] = v.split(",").map((s) => s.trim()).filter(Boolean);
      else fields[spec.key] = v;
    }
    return fields;
  }

  let again = false;
  async function apply() {
    if (!current || !page.canEdit) return;
    if (busy) { again = true; return; } // the form is sent again once the edit in flight is back
    busy = true;
    try {
      const edited = await api("POST", `${page.base}/edit-step`, { source: page.text(), step: current.id, fields: collect(),
        extra: $("step-field-extra").value });
      if (edited.source !== page.text()) page.setText(edited.source);
      page.editor.scrollToLine(edited.line, { select: false });
    } catch (e) {
      if (e.status !== 401) toast(e.message, "error");
    } finally {
      busy = false;
      if (again) { again = false; apply(); }
    }
  }

  function fill(step) {
    current = step;
    $("step-title").textContent = `${step.id} · ${step.kind}`;
    const node = page.checked.graph && page.checked.graph.nodes.find((n) => n.id === step.id);
    $("step-summary").textContent = `Lines ${step.line}–${step.end_line}. ` + (node && node.problems ? `${node.problems} problem(s) here: see the YAML.` : "");
    form.replaceChildren(...(page.data.form[step.kind] || []).map((spec) => field(spec, step.fields[spec.key])));
    const extra = el("textarea", { id: "step-field-extra", name: "extra", "data-testid": "step-field-extra", rows: 3, class: "mono",
      disabled: !page.canEdit }, step.extra);
    form.append(el("label", { class: "field", for: "step-field-extra" }, "Other fields (YAML)", el("span", { class: "hint" }, " (kept as written; comments inside an edited step are not kept)"), extra));
  }

  page.openStep = function (id) {
    const step = page.checked && page.checked.steps[id];
    if (!step) { toast(`'${id}' is not a step yet: add it with "Add step…"`, "error"); return; }
    pane.hidden = false;
    fill(step);
    page.graph.select(id);
    page.editor.scrollToLine(step.line, { select: false });
  };

  page.onChecked((checked) => {
    if (!current || pane.hidden) return;
    const step = checked.steps[current.id];
    if (!step) { $("step-summary").textContent = `Step '${current.id}' is no longer in the YAML.`; form.replaceChildren(); return; }
    if (form.contains(document.activeElement) || busy) return; // do not pull the field out from under the typist
    fill(step);
  });

  form.addEventListener("change", () => apply());
  form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
  $("step-close").addEventListener("click", () => { pane.hidden = true; current = null; page.graph.select(null); });
  $("step-show-yaml").addEventListener("click", () => current && page.editor.scrollToLine(current.line, { focus: true }));

  if (page.canEdit) {
    $("step-delete").addEventListener("click", async () => {
      if (!current || !confirm(`Delete step '${current.id}'? Steps that go to it will show a problem until you change them.`)) return;
      try {
        const edited = await api("POST", `${page.base}/edit-step`, { source: page.text(), step: current.id, fields: null });
        page.setText(edited.source);
        pane.hidden = true;
        current = null;
      } catch (e) { if (e.status !== 401) toast(e.message, "error"); }
    });
    const dialog = $("add-step-dialog");
    $("add-step").addEventListener("click", () => { $("add-step-id").value = ""; dialog.showModal(); });
    $("add-step-cancel").addEventListener("click", () => dialog.close());
    $("add-step-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const id = $("add-step-id").value.trim();
      if (stepIds().includes(id)) { toast(`There already is a step '${id}'`, "error"); return; }
      try {
        const edited = await api("POST", `${page.base}/edit-step`, { source: page.text(), step: id, kind: $("add-step-kind").value, fields: {} });
        page.setText(edited.source);
        dialog.close();
        const checked = await page.revalidate();
        if (checked && checked.steps[id]) page.openStep(id);
        toast(`Step '${id}' added: fill in its form, then point another step at it`);
      } catch (e) { if (e.status !== 401) toast(e.message, "error"); }
    });
  }
})();
