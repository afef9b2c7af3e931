// Flow page: the graph (Cytoscape with the dagre layout). Steps are nodes coloured by what they do;
// transitions are labelled edges (keys, intents, conditions; dashed: no-input/no-match and error paths).
// It redraws from every validation, and lays out again only when the steps or transitions changed.
"use strict";
(function () {
  const page = window.flowPage;
  const hover = document.getElementById("graph-hover");
  const GROUP = {
    menu: "input", ask: "input", collect: "input", say: "say", play: "say", branch: "logic", set: "logic",
    lookup: "logic", http: "logic", transfer: "transfer", hangup: "end", record_voicemail: "end", missing: "missing",
  };
  const COLOR = {
    input: ["#e3f1e8", "#1b7f4a"], say: ["#e6eefc", "#1f5fbf"], logic: ["#f1ecfb", "#6b4fbb"],
    transfer: ["#fff1d6", "#a86200"], end: ["#eceff3", "#5f6b7e"], missing: ["#fde7e4", "#b42318"],
  };

  const MIN_READABLE = 0.8;
  const style = [
    { selector: "node", style: {
      shape: "round-rectangle", label: "data(label)", "text-wrap": "wrap", "text-valign": "center", "text-halign": "center",
      "font-size": 11, "font-family": "system-ui, sans-serif", width: "data(w)", height: "data(h)", "border-width": 1.5,
      "background-color": "data(bg)", "border-color": "data(fg)", color: "#1d2433" } },
    { selector: "node[?start]", style: { "border-width": 3.5 } },
    { selector: "node[?missing]", style: { "border-style": "dashed" } },
    { selector: "node[problems > 0]", style: { "border-color": "#b42318", "border-width": 3, "background-color": "#fff4f2" } },
    { selector: "node.selected", style: { "overlay-color": "#1f5fbf", "overlay-opacity": 0.15, "overlay-padding": 6 } },
    { selector: "node.current", style: { "underlay-color": "#f5b400", "underlay-opacity": 0.5, "underlay-padding": 7 } },
    { selector: "edge", style: {
      width: 1.4, "curve-style": "bezier", "target-arrow-shape": "triangle", "arrow-scale": 0.9, "line-color": "#8a94a6",
      "target-arrow-color": "#8a94a6", label: "data(label)", "font-size": 9.5, "text-wrap": "wrap", color: "#2c3547",
      "text-background-color": "#ffffff", "text-background-opacity": 0.9, "text-background-padding": 2 } },
    { selector: "edge[kind = 'choice']", style: { "line-color": "#1b7f4a", "target-arrow-color": "#1b7f4a" } },
    { selector: "edge[kind = 'condition']", style: { "line-color": "#6b4fbb", "target-arrow-color": "#6b4fbb" } },
    { selector: "edge[kind = 'failure']", style: { "line-style": "dashed", "line-color": "#b9c2d0", "target-arrow-color": "#b9c2d0", color: "#5f6b7e" } },
    { selector: "edge[kind = 'error']", style: { "line-style": "dashed", "line-color": "#d08a3a", "target-arrow-color": "#d08a3a" } },
    { selector: "edge.faded, node.faded", style: { opacity: 0.25 } },
  ];

  function elements(graph) {
    const nodes = graph.nodes.map((n) => {
      const lines = n.label.split("\n");
      const [bg, fg] = COLOR[GROUP[n.kind] || "logic"];
      const label = (n.start ? "▶ " : "") + n.label + (n.problems ? `\n⚠ ${n.problems} problem${n.problems > 1 ? "s" : ""}` : "");
      const rows = lines.length + (n.problems ? 1 : 0);
      return { group: "nodes", data: { ...n, label, bg, fg, w: Math.max(...lines.map((l) => l.length)) * 6.8 + 26, h: rows * 14 + 14 } };
    });
    const edges = graph.edges.map((e) => ({ group: "edges", data: { ...e } }));
    return [...nodes, ...edges];
  }

  const shape = (graph) => JSON.stringify([graph.nodes.map((n) => [n.id, n.kind]), graph.edges.map((e) => [e.source, e.target])]);

  let cy = null;
  let lastShape = "";
  let selected = null;

  // dagre (run directly, not through cytoscape-dagre) so that edges follow its routing around the steps in
  // between, instead of cutting straight across the graph. The no-input / no-match paths (nearly every input
  // step has them, mostly to one fallback) weigh little, so the steps line up by the caller's real choices.
  // Integer weights: with a fractional one dagre's network-simplex ranker threw "Reduce of empty array" whenever
  // the start step was cut off (a typo in its next), and the graph drew nothing while the YAML had the typo.
  const WEIGHT = { choice: 60, condition: 60, next: 80, error: 20, failure: 1 };
  function layout() {
    const g = new window.dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 44, edgesep: 12, ranker: "network-simplex", marginx: 20, marginy: 20 });
    cy.nodes().forEach((n) => g.setNode(n.id(), { width: n.data("w"), height: n.data("h") }));
    cy.edges().forEach((e) => {
      const lines = (e.data("label") || "").split("\n").filter(Boolean);
      g.setEdge(e.source().id(), e.target().id(), {
        weight: WEIGHT[e.data("kind")] ?? 1, minlen: 1, labelpos: "c",
        width: lines.length ? Math.max(...lines.map((l) => l.length)) * 5.6 + 8 : 0, height: lines.length * 12,
      }, e.id());
    });
    try {
      window.dagre.layout(g);
    } catch (err) {
      // Some half-typed graphs defeat the ranker: fall back to the simple one rather than draw nothing.
      console.warn("flow graph: network-simplex layout failed, using longest-path", err);
      g.setGraph({ ...g.graph(), ranker: "longest-path" });
      window.dagre.layout(g);
    }
    cy.batch(() => {
      cy.nodes().forEach((n) => { const p = g.node(n.id()); n.position({ x: p.x, y: p.y }); });
      cy.edges().forEach((e) => route(e, g.edge(e.source().id(), e.target().id(), e.id())));
    });
    readable();
  }

  // An edge through dagre's bend points, as cytoscape segment weights (along source→target) and distances
  // (perpendicular to it), both measured between the node centres.
  function route(edge, info) {
    const s = edge.source().position();
    const t = edge.target().position();
    const dx = t.x - s.x;
    const dy = t.y - s.y;
    const len2 = dx * dx + dy * dy;
    const inner = (info && info.points ? info.points.slice(1, -1) : []);
    if (edge.source().same(edge.target()) || !len2 || !inner.length) {
      edge.removeStyle("curve-style segment-weights segment-distances edge-distances");
      return;
    }
    const len = Math.sqrt(len2);
    const weights = [];
    const distances = [];
    for (const p of inner) {
      const px = p.x - s.x;
      const py = p.y - s.y;
      weights.push(((px * dx + py * dy) / len2).toFixed(4));
      distances.push(((py * dx - px * dy) / len).toFixed(2));
    }
    if (distances.every((d) => Math.abs(Number(d)) < 2)) {
      edge.removeStyle("curve-style segment-weights segment-distances edge-distances");
      return;
    }
    edge.style({ "curve-style": "round-segments", "segment-radius": 18, "edge-distances": "node-position",
      "segment-weights": weights.join(" "), "segment-distances": distances.join(" ") });
  }

  // Fit the whole flow if it stays readable; otherwise zoom to a readable size with the start step on top.
  function readable() {
    cy.fit(undefined, 20);
    if (cy.zoom() >= MIN_READABLE) return;
    cy.zoom(MIN_READABLE);
    const start = cy.nodes("[?start]").first();
    const box = (start.nonempty() ? start : cy.nodes()).renderedBoundingBox();
    cy.panBy({ x: cy.width() / 2 - (box.x1 + box.x2) / 2, y: 30 - box.y1 });
  }

  function render(checked) {
    if (!checked.graph) {
      hover.textContent = "The YAML does not parse, so the graph shows the last version that did.";
      return;
    }
    const graph = checked.graph;
    if (!cy) {
      cy = window.cytoscape({ container: document.getElementById("graph"), style, elements: elements(graph),
        minZoom: 0.15, maxZoom: 2.5, boxSelectionEnabled: false });
      cy.on("tap", "node", (ev) => page.openStep && page.openStep(ev.target.id()));
      cy.on("mouseover", "node", (ev) => {
        const d = ev.target.data();
        hover.textContent = d.missing ? d.summary : `${d.id} (${d.kind}${d.line ? `, line ${d.line}` : ""}): ${d.summary || ""}`;
        const near = ev.target.closedNeighborhood();
        cy.elements().not(near).addClass("faded");
      });
      cy.on("mouseout", "node", () => cy.elements().removeClass("faded"));
      lastShape = shape(graph);
      layout();
      window.flowGraph = cy; // for the browser tests
      return;
    }
    const next = shape(graph);
    if (next === lastShape) {
      for (const item of elements(graph)) {
        const existing = cy.getElementById(item.data.id);
        if (existing.nonempty()) existing.data(item.data);
      }
      return;
    }
    lastShape = next;
    cy.elements().remove();
    cy.add(elements(graph));
    if (selected) cy.getElementById(selected).addClass("selected");
    layout();
  }

  page.graph = {
    select(id) {
      selected = id;
      if (!cy) return;
      cy.nodes().removeClass("selected");
      if (id) cy.getElementById(id).addClass("selected");
    },
    current(id) {
      if (!cy) return;
      cy.nodes().removeClass("current");
      if (id) cy.getElementById(id).addClass("current");
    },
    fit: () => cy && cy.fit(undefined, 16),
    readable: () => cy && readable(),
  };
  document.getElementById("graph-fit").addEventListener("click", () => page.graph.fit());
  page.onChecked(render);
})();
