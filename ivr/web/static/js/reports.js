// A report's page: charts (uPlot for series over days, SVG bars for categories) and its tables, with CSV links.
"use strict";
(function () {
  const { api, el } = window.ivr;
  const data = JSON.parse(document.getElementById("page-data").textContent);
  const kind = location.pathname.split("/").pop();
  const charts = document.getElementById("charts");
  const SVG = "http://www.w3.org/2000/svg";

  // --- formatting: fractions as percentages, seconds as seconds --------------------------------
  const PERCENT = /(rate|level|share|occupancy|recall|precision|csat)$/;
  const SECONDS = /^(asa|aht|avg_talk|avg_wrap|mean|p50|p90|p99|max|available|working|not_ready|logged_in)$/;
  function show(key, v) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number") return String(v);
    if (PERCENT.test(key)) return `${(100 * v).toFixed(1)}%`;
    if (SECONDS.test(key)) return v >= 600 ? `${(v / 3600).toFixed(2)} h` : `${v.toFixed(v < 10 ? 2 : 1)} s`;
    if (key.endsWith("score")) return v.toFixed(1);
    return Number.isInteger(v) ? String(v) : v.toFixed(2);
  }
  const heading = (k) => k.replace(/_/g, " ").replace(/^asa$/, "avg speed of answer").replace(/^aht$/, "avg handle time").replace(/^s([1-5])$/, "scored $1");

  // --- charts -----------------------------------------------------------------------------------
  function box(title) {
    const b = el("div", { class: "chart" }, el("h3", {}, title));
    charts.append(b);
    return b;
  }

  // Charts are laid out first and drawn once every box is in the grid, so each knows its final width.
  const pending = [];

  function bars(title, labels, values, key) {
    const b = box(title);
    pending.push(() => {
      const w = 600, h = 230, pad = 10, bottom = 46;
      const max = Math.max(...values.map((v) => v || 0), PERCENT.test(key) ? 1 : 1e-9);
      const step = (w - 2 * pad) / Math.max(1, labels.length), bw = Math.max(2, step * 0.7);
      const svg = document.createElementNS(SVG, "svg");
      for (const [k, v] of Object.entries({ class: "bars", viewBox: `0 0 ${w} ${h}`, width: "100%", role: "img", "aria-label": title })) svg.setAttribute(k, v);
      const add = (tag, attrs, text) => {
        const n = document.createElementNS(SVG, tag);
        for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
        if (text !== undefined) n.textContent = text;
        svg.append(n);
        return n;
      };
      const every = Math.ceil(labels.length / 24);
      labels.forEach((label, i) => {
        const v = values[i] || 0, bh = ((h - bottom - 18) * v) / max, x = pad + i * step + (step - bw) / 2, y = h - bottom - bh;
        const tip = document.createElementNS(SVG, "title");
        tip.textContent = `${label}: ${show(key, values[i])}`;
        add("rect", { x, y, width: bw, height: Math.max(0, bh) }).append(tip);
        if (labels.length <= 24 && values[i]) add("text", { x: x + bw / 2, y: y - 4, "text-anchor": "middle" }, show(key, values[i]));
        if (i % every === 0) {
          const slant = labels.length > 8 || labels.some((l) => String(l).length > 10);
          add("text", { x: x + bw / 2, y: h - bottom + 14, "text-anchor": slant ? "end" : "middle",
            transform: slant ? `rotate(-35 ${x + bw / 2} ${h - bottom + 14})` : "" }, label);
        }
      });
      add("line", { x1: pad, y1: h - bottom, x2: w - pad, y2: h - bottom, stroke: "#9aa4b5" });
      b.append(svg);
    });
  }

  const COUNTS = new Set(["calls", "turns", "reviews", "replies"]);
  const COLORS = ["#1f5fbf", "#b42318", "#1b7f4a", "#a86200", "#6b3fb5", "#0e7490", "#9d174d"];
  // x is the index of the day (or week, month) so the axis shows one tick per period, labelled by its date.
  function lines(title, labels, series, key) {
    if (!labels.length) return;
    const b = box(title);
    pending.push(() => {
      const xs = labels.map((_, i) => i);
      const every = Math.max(1, Math.ceil(labels.length / 10));
      const yAxis = { values: (u, ticks) => ticks.map((t) => show(key, t)), size: 62 };
      if (COUNTS.has(key)) yAxis.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]; // whole numbers only
      const opts = {
        width: Math.max(320, b.clientWidth - 24), height: 220,
        scales: { x: { time: false, range: [-0.3, Math.max(1, labels.length - 1) + 0.3] },
          y: PERCENT.test(key) ? { range: [0, 1] } : { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { splits: () => xs.filter((i) => i % every === 0), values: (u, splits) => splits.map((i) => labels[i] || "") },
          yAxis],
        series: [{ label: "period", value: (u, i) => (i === null ? "–" : labels[i]) },
          ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2,
            points: { show: labels.length < 40 }, value: (u, v) => show(key, v) }))],
      };
      new uPlot(opts, [xs, ...series.map((s) => s.values)], b);
    });
  }

  const days = (rows) => rows.filter((r) => r.day !== "all");

  const draw = {
    volume() {
      bars("Calls by hour of the day (UTC)", data.by_hour.map((r) => r.period), data.by_hour.map((r) => r.calls), "calls");
      lines("Calls by day", data.by_day.map((r) => r.period), [
        { label: "calls", values: data.by_day.map((r) => r.calls) },
        { label: "contained", values: data.by_day.map((r) => r.contained) },
        { label: "transferred", values: data.by_day.map((r) => r.transferred) },
        { label: "abandoned", values: data.by_day.map((r) => r.abandoned) }], "calls");
    },
    containment() {
      const d = days(data.days);
      lines("Containment rate by day", d.map((r) => r.day), [{ label: "contained", values: d.map((r) => r.rate) }], "rate");
    },
    intents() {
      const top = data.intents.slice(0, 20);
      bars("Caller turns per intent", top.map((r) => r.intent), top.map((r) => r.turns), "turns");
    },
    queues() {
      bars(`Service level (answered within ${data.service_level_seconds} s)`, data.queues.map((r) => r.queue), data.queues.map((r) => r.service_level), "service_level");
      const names = [...new Set(data.by_day.map((r) => r.queue))];
      const ds = [...new Set(data.by_day.map((r) => r.day))].sort();
      const at = (q, d, k) => { const r = data.by_day.find((x) => x.queue === q && x.day === d); return r ? r[k] : null; };
      lines("Service level by day", ds, names.map((q) => ({ label: q, values: ds.map((d) => at(q, d, "service_level")) })), "service_level");
      lines("Average speed of answer by day", ds, names.map((q) => ({ label: q, values: ds.map((d) => at(q, d, "asa")) })), "asa");
    },
    agents() {
      bars("Occupancy", data.agents.map((r) => r.agent_id), data.agents.map((r) => r.occupancy), "occupancy");
      bars("Average handle time", data.agents.map((r) => r.agent_id), data.agents.map((r) => r.aht), "aht");
    },
    qa() {
      const groups = [...new Set(data.rows.map((r) => r.group))];
      if (data.period === "all") {
        bars(`Mean QA score by ${data.group.replace("_", " ")}`, groups, groups.map((g) => data.rows.find((r) => r.group === g).mean_score), "mean_score");
      } else {
        const ps = [...new Set(data.rows.map((r) => r.period))].sort();
        const at = (g, p) => { const r = data.rows.find((x) => x.group === g && x.period === p); return r ? r.mean_score : null; };
        lines(`Mean QA score per ${data.period}`, ps, groups.map((g) => ({ label: g, values: ps.map((p) => at(g, p)) })), "mean_score");
      }
    },
    csat() {
      const agents = data.agents.filter((r) => r.group !== "all");
      bars("Mean survey score by agent (1 to 5)", agents.map((r) => r.group), agents.map((r) => r.mean_score), "mean_score");
      const all = data.agents.find((r) => r.group === "all");
      if (all) bars("Survey scores, whole floor", ["1", "2", "3", "4", "5"], [all.s1, all.s2, all.s3, all.s4, all.s5], "answers");
    },
    latency() {
      const d = days(data.days);
      lines("Reply latency by day", d.map((r) => r.day), ["p50", "p90", "p99"].map((k) => ({ label: k, values: d.map((r) => r[k]) })), "p50");
    },
  };

  // --- tables and downloads ---------------------------------------------------------------------
  const query = new URLSearchParams(location.search);
  const tables = Object.keys(data.columns).map((name) => [name, data[name]]);
  const holder = document.getElementById("tables");
  const links = document.getElementById("downloads");
  links.append("Download: ");
  for (const [name, rows] of tables) {
    query.set("table", name);
    links.append(el("a", { href: `/api/reports/${kind}.csv?${query}`, download: "" }, `${heading(name)} (CSV)`));
    if (tables.length > 1) holder.append(el("h2", {}, heading(name)));
    const cols = data.columns[name] || (rows.length ? Object.keys(rows[0]) : []);
    holder.append(el("table", { class: "grid", "data-table": name },
      el("thead", {}, el("tr", {}, cols.map((c) => el("th", { class: rows.length && typeof rows[0][c] === "number" ? "num" : "" }, heading(c))))),
      el("tbody", {}, rows.length ? rows.map((r) => el("tr", {}, cols.map((c) => el("td", { class: typeof r[c] === "number" ? "num" : "" }, show(c, r[c])))))
        : el("tr", {}, el("td", { class: "muted" }, "No data in this period.")))));
  }
  query.delete("table");
  links.append(el("a", { href: `/api/reports/${kind}?${query}` }, "JSON"));

  if (draw[kind]) draw[kind]();
  for (const d of pending) d();
  api("GET", "/api/reports").then((r) => {
    const nav = document.getElementById("report-nav");
    const keep = new URLSearchParams({ since: data.since, until: data.until });
    for (const x of r.reports) nav.append(el("a", { href: `${x.page}?${keep}`, class: x.name === kind ? "on" : "" }, x.title));
  });
})();
