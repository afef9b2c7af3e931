// Knowledge base page: YAML editor checked as you type, entries table, question tester, draft, publish, rollback.
"use strict";
(function () {
  const { api, toast, el } = window.ivr;
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("page-data").textContent);
  const base = `/api/knowledge/${encodeURIComponent(data.name)}`;
  const canEdit = !!$("kb-save");
  const stashKey = `ivr-kb-draft:${data.name}`;
  let revision = data.draft ? data.draft.revision : 0;
  let saved = data.draft ? data.draft.source : data.live_source;

  function showEntries(entries) {
    $("kb-count").textContent = entries.length;
    $("kb-entries").tBodies[0].replaceChildren(...entries.map((e) => el("tr", { "data-line": e.line, class: "clickable",
      onclick: () => editor.scrollToLine(e.line) },
      el("td", {}, el("strong", {}, e.id)),
      el("td", {}, el("ul", { class: "plain" }, e.questions.map((q) => el("li", {}, q)))),
      el("td", {}, e.answer))));
  }

  function showProblems(check) {
    const box = $("kb-problems");
    box.replaceChildren(...check.problems.map((p) => el("li", { class: p.severity, onclick: () => editor.scrollToLine(p.line) },
      el("strong", {}, `line ${p.line}: `), p.message, p.fix ? el("span", { class: "fix" }, ` Fix: ${p.fix}`) : null)));
    const errors = check.problems.filter((p) => p.severity === "error").length;
    const badge = $("kb-problems-badge");
    badge.textContent = errors ? `${errors} error${errors > 1 ? "s" : ""}` : check.problems.length ? `${check.problems.length} warning(s)` : "valid";
    badge.className = "badge " + (errors ? "fail" : "on");
    if ($("kb-publish-open")) $("kb-publish-open").disabled = !!errors;
  }

  async function validate(text) {
    if (!canEdit) return [];
    let check;
    try { check = await api("POST", `${base}/validate`, { source: text }); }
    catch (e) { if (e.status !== 401) toast(`Check failed: ${e.message}`, "error"); return []; }
    showProblems(check);
    showEntries(check.entries);
    return check.problems.map((p) => ({ line: p.line, severity: p.severity, message: p.fix ? `${p.message}\nFix: ${p.fix}` : p.message }));
  }

  function updateState() {
    if (!canEdit) return;
    $("kb-save-state").textContent = editor.getText() === saved ? (revision ? `draft revision ${revision} saved` : "no changes") : "unsaved changes";
  }

  const editor = window.CM.createEditor($("kb-editor"), {
    doc: data.draft ? data.draft.source : data.live_source,
    readOnly: !canEdit, lint: canEdit ? validate : undefined, lintDelay: 350,
    onChange: () => updateState(), extensions: [window.CM.EditorView.lineWrapping],
  });
  showEntries(data.entries);
  showProblems({ problems: data.problems });

  // An expired session sends the browser to the login page: keep the unsaved text for when it comes back.
  window.ivr.beforeLogin = () => { if (canEdit && editor.getText() !== saved) localStorage.setItem(stashKey, editor.getText()); };
  const stashed = localStorage.getItem(stashKey);
  if (canEdit && stashed && stashed !== editor.getText()) {
    editor.setText(stashed);
    toast("Your unsaved text from before the login was restored.");
  }
  localStorage.removeItem(stashKey);

  if (canEdit) {
    $("kb-save").addEventListener("click", async () => {
      try {
        const d = await api("PUT", `${base}/draft`, { source: editor.getText(), revision, base_version: data.live });
        revision = d.revision; saved = d.source; updateState();
        toast(`Draft saved (revision ${d.revision})`);
      } catch (e) {
        if (e.status === 409) toast(`${e.message}`, "error"); // the text stays in the editor
        else toast(e.message, "error");
      }
    });
    $("kb-publish-open").addEventListener("click", () => {
      $("kb-diff").replaceChildren();
      window.CM.createDiff($("kb-diff"), data.live_source, editor.getText(), { unified: true });
      $("kb-publish-error").hidden = true;
      $("kb-publish").showModal();
    });
    $("kb-publish-cancel").addEventListener("click", () => $("kb-publish").close());
    $("kb-publish-confirm").addEventListener("click", async () => {
      const btn = $("kb-publish-confirm");
      btn.disabled = true;
      try {
        const r = await api("POST", `${base}/publish`, { source: editor.getText(), expect_live: data.live, note: $("kb-note").value });
        saved = editor.getText();
        toast(r.message);
        setTimeout(() => location.reload(), 900);
      } catch (e) {
        $("kb-publish-error").textContent = e.message;
        $("kb-publish-error").hidden = false;
      } finally { btn.disabled = false; }
    });
    for (const b of document.querySelectorAll(".kb-rollback")) {
      b.addEventListener("click", async () => {
        try { const r = await api("POST", `${base}/rollback`, { version: Number(b.dataset.version) }); toast(r.message); setTimeout(() => location.reload(), 900); }
        catch (e) { toast(e.message, "error"); }
      });
    }
    window.addEventListener("beforeunload", (ev) => { if (editor.getText() !== saved) { ev.preventDefault(); ev.returnValue = ""; } });
  }

  $("kb-ask").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const box = $("kb-answer");
    try {
      const r = await api("POST", `${base}/ask`, { source: editor.getText(), question: $("kb-question").value });
      box.replaceChildren(
        el("p", { class: r.answered ? "ok" : "bad" }, r.answered ? `Answered from '${r.entry}':` : "Not answered."),
        r.answered ? el("blockquote", {}, r.answer) : null,
        el("p", { class: "muted small" }, r.explanation),
        el("table", { class: "grid compact" }, el("thead", {}, el("tr", {}, el("th", {}, "Entry"), el("th", {}, "Confidence"))),
          el("tbody", {}, r.ranked.map((x) => el("tr", {}, el("td", {}, x.entry), el("td", {}, x.confidence.toFixed(2)))))));
      box.hidden = false;
    } catch (e) { toast(e.message, "error"); }
  });
  updateState();
})();
