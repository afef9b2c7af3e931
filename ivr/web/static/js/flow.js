// Flow page: the YAML editor with live validation, the shared draft (optimistic lock, kept across an expired
// session), the problems list, tabs and the publish dialog. The graph, step form, test panel and versions
// live in flow_graph.js, flow_form.js, flow_try.js and flow_versions.js; they meet on window.flowPage.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const base = `/api/flows/${encodeURIComponent(data.name)}`;
  const stashKey = `ivr.flow.${data.name}.unsaved`;
  const $ = (id) => document.getElementById(id);

  const page = (window.flowPage = {
    data,
    base,
    canEdit: data.can_edit,
    editor: null,
    checked: null, // the last validation of the editor's text: problems, graph, step forms
    draft: { revision: data.draft ? data.draft.revision : 0, baseVersion: data.base_version, savedText: data.editor_source },
    listeners: [],
    onChecked(fn) { page.listeners.push(fn); if (page.checked) fn(page.checked); },
    text: () => page.editor.getText(),
    setText(text) { page.editor.setText(text); changed(text); },
    dirty: () => page.canEdit && page.text() !== page.draft.savedText,
    save,
  });

  // --- validation: the editor's lint source; every result also redraws the graph and the form ------------
  let lastChecked = null;
  async function validate(text) {
    if (!page.canEdit) return [];
    let checked;
    try {
      checked = await api("POST", `${base}/validate`, { source: text });
    } catch (e) {
      if (e.status !== 401) toast(`Validation failed: ${e.message}`, "error");
      return [];
    }
    lastChecked = text;
    publishChecked(checked);
    return checked.problems.map((p) => ({ line: p.line, severity: p.severity,
      message: p.fix ? `${p.message}\nFix: ${p.fix}` : p.message }));
  }

  function publishChecked(checked) {
    page.checked = checked;
    showProblems(checked);
    for (const fn of page.listeners) {
      try { fn(checked); } catch (e) { console.error(e); }
    }
  }

  function showProblems(checked) {
    const box = $("problems");
    const count = $("problem-count");
    box.replaceChildren();
    if (!page.canEdit) return;
    if (checked.ok) {
      count.textContent = "valid";
      count.className = "badge on";
      return;
    }
    const n = checked.problems.length;
    count.textContent = `${n} problem${n === 1 ? "" : "s"}`;
    count.className = "badge off";
    const list = el("ul", { class: "problem-list" });
    for (const p of checked.problems.slice(0, 8)) {
      list.append(el("li", {},
        el("button", { type: "button", class: "link-button problem-item", "data-testid": "problem-item", "data-line": p.line,
          onclick: () => page.editor.scrollToLine(p.line, { focus: true }) }, `line ${p.line}`),
        ` ${p.message}`, p.fix ? el("span", { class: "muted" }, ` — ${p.fix}`) : null));
    }
    if (n > 8) list.append(el("li", { class: "muted" }, `and ${n - 8} more (see the marks in the editor)`));
    box.append(el("strong", {}, `${n} problem${n === 1 ? "" : "s"}: this text cannot be published yet.`), list);
  }

  // --- unsaved text survives an expired session or a closed tab --------------------------------------
  let stashTimer = null;
  function stash() {
    if (!page.dirty()) { localStorage.removeItem(stashKey); return; }
    localStorage.setItem(stashKey, JSON.stringify({ text: page.text(), revision: page.draft.revision,
      baseVersion: page.draft.baseVersion, at: new Date().toISOString() }));
  }
  window.ivr.beforeLogin = stash;

  function changed() {
    updateSaveState();
    clearTimeout(stashTimer);
    stashTimer = setTimeout(stash, 800);
  }

  function updateSaveState() {
    const state = $("save-state");
    if (!state) return;
    const d = data.draft;
    if (page.dirty()) { state.textContent = "Unsaved changes"; state.className = "save-state dirty"; return; }
    state.className = "save-state";
    state.textContent = page.draft.revision ? `Draft saved (revision ${page.draft.revision}${d && page.draft.revision === d.revision ? `, by ${d.updated_by}` : ""})`
      : "No draft: the editor shows the live version";
  }

  function restoreStash() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(stashKey) || "null"); } catch (e) { saved = null; }
    if (!saved || typeof saved.text !== "string" || saved.text === data.editor_source) {
      localStorage.removeItem(stashKey);
      return;
    }
    page.editor.setText(saved.text);
    page.draft.revision = saved.revision;
    page.draft.baseVersion = saved.baseVersion;
    $("restored-text").textContent = `Your unsaved changes from ${window.ivr.when(saved.at)} were restored (not saved yet). `;
    $("restored-banner").hidden = false;
    $("restored-discard").onclick = () => {
      page.draft.revision = data.draft ? data.draft.revision : 0;
      page.draft.baseVersion = data.base_version;
      page.setText(data.editor_source);
      localStorage.removeItem(stashKey);
      $("restored-banner").hidden = true;
    };
  }

  // --- saving the draft, and losing the race to another editor ------------------------------------------
  let theirs = null;
  async function save(opts = {}) {
    const text = page.text();
    try {
      const saved = await api("PUT", `${base}/draft`, { source: text, revision: opts.revision ?? page.draft.revision,
        base_version: page.draft.baseVersion });
      page.draft.revision = saved.revision;
      page.draft.savedText = text;
      data.draft = saved;
      localStorage.removeItem(stashKey);
      $("conflict-banner").hidden = true;
      $("restored-banner").hidden = true;
      $("discard-draft").hidden = false;
      updateSaveState();
      if (!opts.quiet) toast(`Draft saved (revision ${saved.revision})` + (page.checked && !page.checked.ok ? ", with problems still to fix" : ""));
      return true;
    } catch (e) {
      if (e.status === 409) showConflict(e);
      else if (e.status !== 401) toast(`Not saved: ${e.message}`, "error");
      stash();
      return false;
    }
  }

  function showConflict(e) {
    theirs = e.data.current || null;
    $("conflict-text").textContent = e.message + " ";
    $("conflict-compare").hidden = $("conflict-take-theirs").hidden = !theirs;
    $("conflict-banner").hidden = false;
    $("conflict-banner").scrollIntoView({ block: "nearest" });
  }

  function bindEditing() {
    $("save-draft").addEventListener("click", () => save());
    $("conflict-compare").addEventListener("click", () => page.showDiff(`Their draft (revision ${theirs.revision}, ${theirs.updated_by}) and your text`,
      theirs.source, page.text(), `Left: saved by ${theirs.updated_by}. Right: your text in the editor.`));
    $("conflict-take-theirs").addEventListener("click", () => {
      page.draft.revision = theirs.revision;
      page.draft.savedText = theirs.source;
      page.setText(theirs.source);
      $("conflict-banner").hidden = true;
      toast(`Loaded ${theirs.updated_by}'s draft`);
    });
    $("conflict-overwrite").addEventListener("click", async () => {
      const current = theirs ? theirs.revision : 0;
      if (await save({ revision: current })) toast("Your text replaced theirs");
    });
    $("discard-draft").addEventListener("click", async () => {
      if (!confirm("Discard the draft for everyone? The editor goes back to the live version.")) return;
      try {
        await api("DELETE", `${base}/draft`, { revision: page.draft.revision });
        localStorage.removeItem(stashKey);
        location.reload();
      } catch (e) { if (e.status !== 401) toast(e.message, "error"); }
    });
    document.addEventListener("keydown", (ev) => {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") { ev.preventDefault(); save(); }
    });
    window.addEventListener("beforeunload", (ev) => { if (page.dirty()) { stash(); ev.preventDefault(); } });
  }

  // --- diffs ------------------------------------------------------------------------------------
  let diffView = null;
  page.showDiff = function (title, a, b, legend) {
    $("diff-title").textContent = title;
    $("diff-legend").textContent = legend || "";
    if (diffView) diffView.destroy();
    $("diff-view").replaceChildren();
    $("diff-dialog").showModal();
    diffView = window.CM.createDiff($("diff-view"), a, b, {});
  };

  // --- publish: save, check (validation and test cases), show the diff, then confirm -------------------
  let publishDiff = null;
  async function openPublish() {
    if (page.dirty() && !(await save({ quiet: true }))) return;
    if (!page.draft.revision) { toast("There is no draft to publish: change something first", "error"); return; }
    const dialog = $("publish-dialog");
    const checks = $("publish-checks");
    const confirmBtn = $("publish-confirm");
    $("publish-error").textContent = "";
    confirmBtn.disabled = true;
    confirmBtn.textContent = "Publish";
    checks.replaceChildren(el("li", { class: "pending" }, "Validating and running the test cases…"));
    if (publishDiff) publishDiff.destroy();
    $("publish-diff").replaceChildren();
    dialog.showModal();
    publishDiff = window.CM.createDiff($("publish-diff"), data.live_source || "", page.text(), {});
    const text = page.text();
    const [checked, tests] = await Promise.all([
      api("POST", `${base}/validate`, { source: text }).catch((e) => ({ error: e.message })),
      api("POST", `${base}/tests`, { source: text }).catch((e) => ({ error: e.message })),
    ]);
    checks.replaceChildren();
    let ok = true;
    if (checked.error) { ok = false; checks.append(el("li", { class: "fail" }, `Validation could not run: ${checked.error}`)); }
    else if (checked.ok) checks.append(el("li", { class: "pass", "data-testid": "check-validation" }, "Validation: no problems"));
    else { ok = false; checks.append(el("li", { class: "fail", "data-testid": "check-validation" }, `Validation: ${checked.problems.length} problem(s), first on line ${checked.problems[0].line}: ${checked.problems[0].message}`)); }
    if (tests.error) { ok = false; checks.append(el("li", { class: "fail" }, `Test cases could not run: ${tests.error}`)); }
    else if (tests.problems.length) { ok = false; checks.append(el("li", { class: "fail", "data-testid": "check-tests" }, "Test cases: none can run until the problems above are fixed")); }
    else if (!tests.file) checks.append(el("li", { class: "pass", "data-testid": "check-tests" }, "Test cases: this flow has none"));
    else if (tests.failed === 0) checks.append(el("li", { class: "pass", "data-testid": "check-tests" }, `Test cases: all ${tests.passed} pass`));
    else {
      ok = false;
      const first = tests.cases.find((c) => !c.passed);
      checks.append(el("li", { class: "fail", "data-testid": "check-tests" }, `Test cases: ${tests.failed} of ${tests.cases.length} fail` + (first ? ` (first: ${first.name}: ${first.failure})` : "")));
    }
    const next = Math.max(0, ...data.versions.map((v) => v.version)) + 1;
    confirmBtn.textContent = ok ? `Publish as version ${next}` : "Fix the problems above to publish";
    confirmBtn.disabled = !ok;
  }

  async function confirmPublish() {
    const btn = $("publish-confirm");
    btn.disabled = true;
    btn.textContent = "Publishing…";
    try {
      const done = await api("POST", `${base}/publish`, { draft_revision: page.draft.revision, expect_live: data.live,
        note: $("publish-note").value });
      localStorage.removeItem(stashKey);
      page.draft.savedText = page.text();
      const where = done.applied ? "new calls get it now" : (done.error || "running servers pick it up within a second");
      toast(`Version ${done.version} is live: ${where}`);
      setTimeout(() => location.reload(), 900);
    } catch (e) {
      $("publish-error").textContent = e.message;
      btn.textContent = "Publish";
      btn.disabled = e.status === 409 || e.status === 422;
    }
  }

  function bindPublish() {
    $("publish-open").addEventListener("click", openPublish);
    $("publish-confirm").addEventListener("click", confirmPublish);
    $("publish-cancel").addEventListener("click", () => $("publish-dialog").close());
  }

  // --- tabs -------------------------------------------------------------------------------------
  function bindTabs() {
    const buttons = document.querySelectorAll("#tools-tabs [data-tab]");
    for (const b of buttons) {
      b.addEventListener("click", () => {
        for (const o of buttons) {
          o.classList.toggle("on", o === b);
          $(`tab-${o.dataset.tab}`).hidden = o !== b;
        }
        document.dispatchEvent(new CustomEvent("flow-tab", { detail: b.dataset.tab }));
      });
    }
  }

  // --- start ------------------------------------------------------------------------------------
  page.editor = window.CM.createEditor($("editor"), {
    doc: data.editor_source,
    readOnly: !page.canEdit,
    lint: page.canEdit ? validate : undefined,
    lintDelay: 350,
    onChange: (text) => changed(text),
    extensions: [window.CM.EditorView.lineWrapping],
  });
  bindTabs();
  if (page.canEdit) {
    bindEditing();
    bindPublish();
    restoreStash();
    updateSaveState();
    page.editor.relint();
  } else {
    api("GET", `${base}/graph`).then(publishChecked).catch((e) => toast(e.message, "error"));
  }
  page.revalidate = () => (lastChecked === page.text() && page.checked ? Promise.resolve(page.checked) : validate(page.text()).then(() => page.checked));
})();
