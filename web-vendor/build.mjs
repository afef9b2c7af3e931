// Builds the console's browser libraries into ivr/web/static/vendor/ with esbuild,
// then writes LICENSES.md and copies the licence text of every npm package that
// ended up in a built file. The output is committed, so running the product needs
// no Node; rerun this (`npm ci && npm run build`) after changing package.json.
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, "../ivr/web/static/vendor");
const modules = path.join(here, "node_modules");

// One IIFE per page need; each entry assigns its globals on window.
const bundles = {
  "codemirror.js": "src/codemirror.mjs",
  "graph.js": "src/graph.mjs",
  "wavesurfer.js": "src/wavesurfer.mjs",
};
// Upstream's own browser builds, used as they are.
const copies = {
  "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
};

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(path.join(out, "licenses"), { recursive: true });

// Packages whose published build already contains another package's code, which
// esbuild's metafile therefore cannot see: dagre's ESM build inlines graphlib.
const inlined = { "@dagrejs/dagre": ["@dagrejs/graphlib"] };

const used = new Map(); // package dir -> Set of output files
function note(pkgDir, file) {
  if (!used.has(pkgDir)) used.set(pkgDir, new Set());
  used.get(pkgDir).add(file);
  const name = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).name;
  for (const dep of inlined[name] || []) note(path.join(modules, dep), file);
}

// "node_modules/@scope/name/dist/x.js" -> "node_modules/@scope/name" (innermost node_modules wins).
function packageDirOf(input) {
  const parts = input.split("/");
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) return null;
  const width = parts[at + 1].startsWith("@") ? 3 : 2;
  return parts.slice(0, at + width).join("/");
}

for (const [file, entry] of Object.entries(bundles)) {
  const result = await build({
    absWorkingDir: here,
    entryPoints: [entry],
    outfile: path.join(out, file),
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["es2020"],
    minify: true,
    legalComments: "eof",
    metafile: true,
    logLevel: "warning",
  });
  for (const input of Object.keys(result.metafile.inputs)) {
    const dir = packageDirOf(input);
    if (dir) note(path.join(here, dir), file);
  }
}
for (const [file, source] of Object.entries(copies)) {
  fs.copyFileSync(path.join(modules, source), path.join(out, file));
  note(path.join(modules, source.split("/")[0]), file);
}

function upstream(pkg) {
  let url = typeof pkg.repository === "string" ? pkg.repository : pkg.repository?.url;
  if (!url) return pkg.homepage || `https://www.npmjs.com/package/${pkg.name}`;
  url = url.replace(/^git\+/, "").replace(/\.git$/, "");
  url = url.replace(/^git@github\.com:/, "https://github.com/").replace(/^github:/, "https://github.com/");
  url = url.replace(/^(git|ssh):\/\/(git@)?github\.com\//, "https://github.com/");
  if (/^[\w.-]+\/[\w.-]+$/.test(url)) url = `https://github.com/${url}`;
  return url;
}

const rows = [];
for (const [dir, files] of used) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const licenceFile = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
  if (!licenceFile) throw new Error(`${pkg.name} ships no LICENSE file; add its licence text by hand`);
  const copyName = `${pkg.name.replace(/^@/, "").replace("/", "__")}.txt`;
  fs.copyFileSync(path.join(dir, licenceFile), path.join(out, "licenses", copyName));
  rows.push({ name: pkg.name, version: pkg.version, license: pkg.license, url: upstream(pkg), copyName, files: [...files].sort() });
}
rows.sort((a, b) => a.name.localeCompare(b.name));

const lines = [
  "# Third-party browser libraries",
  "",
  "Built from npm by `web-vendor/` (`cd web-vendor && npm ci && npm run build`); do not edit these files by hand.",
  "Every package whose code is in a file here is listed, with its version from `web-vendor/package-lock.json`.",
  "",
  "| Package | Version | Licence | Upstream | In | Licence text |",
  "|---|---|---|---|---|---|",
  ...rows.map((r) => `| ${r.name} | ${r.version} | ${r.license} | ${r.url} | ${r.files.join(", ")} | licenses/${r.copyName} |`),
  "",
];
fs.writeFileSync(path.join(out, "LICENSES.md"), lines.join("\n"));

for (const file of [...Object.keys(bundles), ...Object.keys(copies)].sort()) {
  console.log(`${file.padEnd(20)} ${fs.statSync(path.join(out, file)).size} bytes`);
}
console.log(`LICENSES.md: ${rows.length} packages`);
