// CodeMirror 6 for the console's pages, exposed as window.CM.
// Page scripts have no build step, so besides the raw CodeMirror exports this
// file offers a few helpers for what the console does: a YAML editor with
// server-side validation shown at 1-based line numbers, and a diff view.
import { basicSetup } from "codemirror";
import { EditorView, keymap } from "@codemirror/view";
import { Annotation, Compartment, EditorSelection, EditorState, StateEffect } from "@codemirror/state";
import { indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { forceLinting, linter, lintGutter, setDiagnostics } from "@codemirror/lint";
import { MergeView, unifiedMergeView } from "@codemirror/merge";

// Marks changes made by setText so onChange can tell them from typing;
// otherwise a form that rewrites the YAML would re-trigger itself.
const programmatic = Annotation.define();

const lightTheme = EditorView.theme(
  {
    "&": { backgroundColor: "#ffffff", color: "#1f2328", fontSize: "14px", border: "1px solid #d0d7de" },
    "&.cm-focused": { outline: "2px solid #0969da33" },
    ".cm-content": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
    ".cm-gutters": { backgroundColor: "#f6f8fa", color: "#6e7781", borderRight: "1px solid #d0d7de" },
    ".cm-activeLine": { backgroundColor: "#f6f8fa" },
    ".cm-activeLineGutter": { backgroundColor: "#eaeef2" },
    ".cm-scroller": { overflow: "auto" },
  },
  { dark: false },
);

function clampLine(doc, n) {
  const line = Math.min(Math.max(1, Math.floor(Number(n) || 1)), doc.lines);
  return doc.line(line);
}

// {line, column?, endLine?, endColumn?, severity?, message} (1-based) -> CodeMirror Diagnostic.
// A whole line is marked when no column is given; out-of-range lines are clamped
// so a stale message after an edit still shows somewhere visible.
function toDiagnostic(state, d) {
  if (typeof d.from === "number") return { severity: "error", ...d };
  const doc = state.doc;
  const start = clampLine(doc, d.line);
  const from = d.column ? Math.min(start.from + d.column - 1, start.to) : start.from;
  const end = d.endLine ? clampLine(doc, d.endLine) : start;
  let to = d.endColumn ? Math.min(end.from + d.endColumn - 1, end.to) : end.to;
  if (to < from) to = from;
  return { from, to, severity: d.severity || "error", message: String(d.message), source: d.source };
}

function toDiagnostics(state, list) {
  return (list || []).map((d) => toDiagnostic(state, d));
}

function lineStart(view, n) {
  return clampLine(view.state.doc, n).from;
}

/**
 * Create an editor in `parent`.
 * options: doc, language ("yaml" | null), readOnly, height (CSS), onChange(text, {user}),
 * lint(text) -> diagnostics or a Promise of them (1-based lines), lintDelay (ms), extensions.
 * With `lint`, each run replaces what setDiagnostics pushed; use one or the other per editor.
 */
function createEditor(parent, options = {}) {
  const readOnly = new Compartment();
  const onChange = options.onChange;
  const extensions = [
    basicSetup,
    keymap.of([indentWithTab]),
    lightTheme,
    lintGutter(),
    readOnly.of([EditorState.readOnly.of(!!options.readOnly), EditorView.editable.of(!options.readOnly)]),
    EditorView.updateListener.of((update) => {
      if (!update.docChanged || !onChange) return;
      const user = !update.transactions.some((tr) => tr.annotation(programmatic));
      onChange(update.state.doc.toString(), { user });
    }),
  ];
  if (options.language !== null) extensions.push(yaml());
  if (options.height) extensions.push(EditorView.theme({ "&": { height: options.height } }));
  if (options.lint) {
    const source = async (view) => toDiagnostics(view.state, await options.lint(view.state.doc.toString()));
    extensions.push(linter(source, { delay: options.lintDelay ?? 400 }));
  }
  if (options.extensions) extensions.push(options.extensions);
  const view = new EditorView({ parent, state: EditorState.create({ doc: options.doc || "", extensions }) });
  return {
    view,
    getText: () => view.state.doc.toString(),
    setText(text) {
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: text },
        annotations: programmatic.of(true),
      });
    },
    setDiagnostics(list) {
      view.dispatch(setDiagnostics(view.state, toDiagnostics(view.state, list)));
    },
    relint: () => forceLinting(view),
    scrollToLine(n, opts = {}) {
      const pos = lineStart(view, n);
      view.dispatch({
        selection: opts.select === false ? undefined : EditorSelection.cursor(pos),
        effects: EditorView.scrollIntoView(pos, { y: "center" }),
      });
      if (opts.focus) view.focus();
    },
    setReadOnly(flag) {
      view.dispatch({
        effects: readOnly.reconfigure([EditorState.readOnly.of(!!flag), EditorView.editable.of(!flag)]),
      });
    },
    destroy: () => view.destroy(),
  };
}

function readOnlyExtensions(language) {
  const ext = [basicSetup, lightTheme, EditorState.readOnly.of(true), EditorView.editable.of(false)];
  if (language !== null) ext.push(yaml());
  return ext;
}

/**
 * Show the difference between `original` and `modified`, read-only.
 * options: unified (one column, default false), language, collapseUnchanged (default true).
 * Returns {destroy, view or merge}.
 */
function createDiff(parent, original, modified, options = {}) {
  const collapse = options.collapseUnchanged === false ? undefined : { margin: 3, minSize: 4 };
  if (options.unified) {
    const view = new EditorView({
      parent,
      state: EditorState.create({
        doc: modified,
        extensions: [
          readOnlyExtensions(options.language),
          unifiedMergeView({ original, mergeControls: false, collapseUnchanged: collapse }),
        ],
      }),
    });
    return { view, destroy: () => view.destroy() };
  }
  const merge = new MergeView({
    parent,
    a: { doc: original, extensions: readOnlyExtensions(options.language) },
    b: { doc: modified, extensions: readOnlyExtensions(options.language) },
    collapseUnchanged: collapse,
  });
  return { merge, destroy: () => merge.destroy() };
}

window.CM = {
  // raw CodeMirror API, for anything the helpers do not cover
  EditorView,
  EditorState,
  EditorSelection,
  Compartment,
  StateEffect,
  basicSetup,
  keymap,
  indentWithTab,
  yaml,
  linter,
  lintGutter,
  setDiagnostics,
  forceLinting,
  MergeView,
  unifiedMergeView,
  lightTheme,
  // helpers
  createEditor,
  createDiff,
  toDiagnostics,
};
