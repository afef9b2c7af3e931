// Cytoscape.js with the dagre layout registered, exposed as window.cytoscape
// (and window.dagre). cytoscape-dagre is built from its source so that the
// dagre it uses is the version pinned in package-lock.json.
import cytoscape from "cytoscape";
import dagre from "@dagrejs/dagre";
import registerDagre from "../node_modules/cytoscape-dagre/src/index.mjs";

registerDagre(cytoscape);
window.cytoscape = cytoscape;
window.dagre = dagre;
