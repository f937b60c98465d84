"""The two custom browser views (anywidget, ES module inline; no JupyterLab build step).

- :class:`ResultsTable`: one page of search results as an HTML table; a click (or Enter)
  on a row sets ``selected_id``.
- :class:`LineageGraph`: a lineage layout (see ``_graph.layout_graph``) drawn as one SVG,
  columns per level with counts, edges as a few long paths (one per parent level), so 2,000
  files and their edges are a single DOM update; a click on a file sets ``selected_id``.

The Python side is plain synced traitlets, so everything the views do is driven and tested
without a browser by setting the same traits.
"""

from __future__ import annotations

import anywidget
import traitlets

__all__ = ["LineageGraph", "ResultsTable"]

_ESCAPE_JS = r"""
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
}[c]));
"""

_TABLE_ESM = (
    _ESCAPE_JS
    + r"""
function render({ model, el }) {
  el.classList.add("jwstnb-table");
  const draw = () => {
    const rows = model.get("rows") || [];
    const columns = model.get("columns") || [];
    const selected = model.get("selected_id");
    const colours = model.get("level_colours") || {};
    if (!rows.length) {
      el.innerHTML = `<div class="jwstnb-table-message">${esc(model.get("message") || "")}</div>`;
      return;
    }
    const head = columns.map(([, label]) => `<th>${esc(label)}</th>`).join("");
    const body = rows.map((row) => {
      const cells = columns.map(([key]) => {
        const value = row[key];
        if (key === "thumb") {
          return value ? `<td class="jwstnb-thumb"><img alt="" src="${value}"></td>` : "<td></td>";
        }
        if (key === "processing_level") {
          const colour = colours[value] || colours.unknown || "#6b7280";
          const badge = `<span class="jwstnb-badge" style="background:${colour}">`;
          return `<td>${badge}${esc(value)}</span></td>`;
        }
        const text = Array.isArray(value) ? value.join(", ") : value;
        return `<td data-col="${esc(key)}">${esc(text)}</td>`;
      }).join("");
      const cls = row.id === selected ? "jwstnb-row jwstnb-selected" : "jwstnb-row";
      return `<tr class="${cls}" data-id="${esc(row.id)}" tabindex="0">${cells}</tr>`;
    }).join("");
    el.innerHTML = `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  };
  const choose = (event) => {
    const tr = event.target.closest("tr[data-id]");
    if (!tr) return;
    model.set("selected_id", tr.dataset.id);
    model.save_changes();
  };
  const onKey = (event) => { if (event.key === "Enter") choose(event); };
  el.addEventListener("click", choose);
  el.addEventListener("keydown", onKey);
  model.on("change:rows", draw);
  model.on("change:selected_id", draw);
  model.on("change:message", draw);
  draw();
  return () => {
    model.off("change:rows", draw);
    model.off("change:selected_id", draw);
    model.off("change:message", draw);
  };
}
export default { render };
"""
)

_TABLE_CSS = r"""
.jwstnb-table { max-height: 520px; overflow: auto; font-size: 12px; }
.jwstnb-table table { border-collapse: collapse; width: 100%; }
.jwstnb-table th { position: sticky; top: 0; background: var(--jp-layout-color2, #eee);
  text-align: left; padding: 3px 6px; font-weight: 600; }
.jwstnb-table td { padding: 2px 6px; border-bottom: 1px solid var(--jp-border-color2, #ddd);
  white-space: nowrap; }
.jwstnb-table tr.jwstnb-row { cursor: pointer; }
.jwstnb-table tr.jwstnb-row:hover { background: var(--jp-layout-color2, #f3f4f6); }
.jwstnb-table tr.jwstnb-selected { background: var(--jp-brand-color3, #dbeafe) !important; }
.jwstnb-table .jwstnb-thumb img { height: 32px; width: 32px; object-fit: contain; }
.jwstnb-table .jwstnb-badge { color: white; border-radius: 3px; padding: 0 4px; }
.jwstnb-table-message { padding: 12px; color: var(--jp-ui-font-color2, #555); }
"""

_GRAPH_ESM = (
    _ESCAPE_JS
    + r"""
const GAP = 64, ROW_H = 22, BOX_H = 18, TOP = 34, PAD = 8, CHAR_W = 6.7;

function render({ model, el }) {
  el.classList.add("jwstnb-graph");
  const scroller = document.createElement("div");
  scroller.className = "jwstnb-graph-scroll";
  el.appendChild(scroller);
  let svg = null;
  let COL_W = 300;  // fitted to the longest file name at each draw

  const pos = (node) => [PAD + node[2] * (COL_W + GAP), TOP + node[3] * ROW_H];
  const curve = (a, b) => {
    const [ax, ay] = pos(a), [bx, by] = pos(b);
    const y1 = ay + BOX_H / 2, y2 = by + BOX_H / 2;
    if (a[2] === b[2]) {  // same column (cal -> crf): an arc on the right side
      const x = ax + COL_W;
      return `M${x},${y1}C${x + 40},${y1} ${x + 40},${y2} ${x},${y2}`;
    }
    const x1 = ax + COL_W, x2 = bx, mid = (x1 + x2) / 2;
    return `M${x1},${y1}C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
  };

  const draw = () => {
    const g = model.get("graph") || {};
    const nodes = g.nodes || [], edges = g.edges || [], columns = g.columns || [];
    if (!nodes.length) {
      const message = esc(model.get("message") || "No files.");
      scroller.innerHTML = `<div class="jwstnb-graph-message">${message}</div>`;
      svg = null;
      return;
    }
    let longest = 0;
    for (const node of nodes) longest = Math.max(longest, node[1].length);
    COL_W = Math.min(440, Math.max(200, Math.ceil(16 + longest * CHAR_W)));
    const width = PAD * 2 + columns.length * COL_W + (columns.length - 1) * GAP + 40;
    const height = TOP + Math.max(1, g.rows || 0) * ROW_H + PAD;
    const paths = columns.map(() => []);
    for (const [p, c] of edges) paths[nodes[p][2]].push(curve(nodes[p], nodes[c]));
    let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`;
    columns.forEach((col, i) => {
      const x = PAD + i * (COL_W + GAP);
      out += `<g class="jwstnb-column" data-level="${esc(col.level)}">`
        + `<rect x="${x}" y="4" width="${COL_W}" height="22" rx="4" fill="${col.colour}"/>`
        + `<text x="${x + 8}" y="19" fill="white" font-weight="600">`
        + `${esc(col.level)} (${col.count})</text></g>`;
    });
    columns.forEach((col, i) => {
      if (paths[i].length) {
        out += `<path class="jwstnb-edges" d="${paths[i].join("")}" stroke="${col.colour}"/>`;
      }
    });
    out += `<path class="jwstnb-edges-selected" d=""/>`;
    for (const node of nodes) {
      const [x, y] = pos(node);
      const col = columns[node[2]];
      const cls = node[4] ? "jwstnb-node" : "jwstnb-node jwstnb-nonviewable";
      out += `<g class="${cls}" data-id="${esc(node[0])}" transform="translate(${x},${y})">`
        + `<rect width="${COL_W}" height="${BOX_H}" rx="3" stroke="${col.colour}"/>`
        + `<rect width="5" height="${BOX_H}" fill="${col.colour}"/>`
        + `<text x="10" y="13">${esc(node[1])}</text><title>${esc(node[1])}</title></g>`;
    }
    out += "</svg>";
    scroller.innerHTML = out;
    svg = scroller.firstChild;
    highlight();
  };

  const highlight = () => {
    if (!svg) return;
    const selected = model.get("selected_id");
    for (const old of svg.querySelectorAll(".jwstnb-selected")) {
      old.classList.remove("jwstnb-selected");
    }
    const g = model.get("graph") || {};
    const nodes = g.nodes || [];
    const path = svg.querySelector(".jwstnb-edges-selected");
    if (!selected) { path.setAttribute("d", ""); return; }
    const index = nodes.findIndex((n) => n[0] === selected);
    if (index < 0) { path.setAttribute("d", ""); return; }
    const target = svg.querySelector(`g.jwstnb-node[data-id="${CSS.escape(selected)}"]`);
    if (target) target.classList.add("jwstnb-selected");
    const d = [];
    for (const [p, c] of g.edges || []) {
      if (p === index || c === index) d.push(curve(nodes[p], nodes[c]));
    }
    path.setAttribute("d", d.join(""));
  };

  scroller.addEventListener("click", (event) => {
    const node = event.target.closest("g.jwstnb-node");
    if (!node) return;
    model.set("selected_id", node.dataset.id);
    model.save_changes();
  });
  model.on("change:graph", draw);
  model.on("change:message", draw);
  model.on("change:selected_id", highlight);
  draw();
  return () => {
    model.off("change:graph", draw);
    model.off("change:message", draw);
    model.off("change:selected_id", highlight);
  };
}
export default { render };
"""
)

_GRAPH_CSS = r"""
.jwstnb-graph-scroll { max-height: 560px; overflow: auto; border: 1px solid
  var(--jp-border-color2, #ddd); border-radius: 4px; background: var(--jp-layout-color0, white); }
.jwstnb-graph svg { font: 11px var(--jp-code-font-family, monospace); display: block; }
.jwstnb-graph .jwstnb-edges { fill: none; stroke-opacity: 0.35; stroke-width: 1; }
.jwstnb-graph .jwstnb-edges-selected { fill: none; stroke: #111827; stroke-width: 2; }
.jwstnb-graph g.jwstnb-node { cursor: pointer; }
.jwstnb-graph g.jwstnb-node rect:first-child { fill: var(--jp-layout-color1, white); }
.jwstnb-graph g.jwstnb-node text { fill: var(--jp-ui-font-color1, #111); }
.jwstnb-graph g.jwstnb-nonviewable text { font-style: italic; }
.jwstnb-graph g.jwstnb-node:hover rect:first-child { fill: var(--jp-layout-color2, #f3f4f6); }
.jwstnb-graph g.jwstnb-selected rect:first-child { fill: #fde68a; stroke-width: 2; }
.jwstnb-graph-message { padding: 12px; color: var(--jp-ui-font-color2, #555); }
"""


class ResultsTable(anywidget.AnyWidget):
    """One page of results; ``rows`` are dicts, ``columns`` ``[key, label]`` pairs."""

    _esm = _TABLE_ESM
    _css = _TABLE_CSS
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    columns = traitlets.List().tag(sync=True)
    selected_id = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    level_colours = traitlets.Dict().tag(sync=True)


class LineageGraph(anywidget.AnyWidget):
    """A lineage layout drawn as SVG; ``graph`` comes from ``_graph.layout_graph``."""

    _esm = _GRAPH_ESM
    _css = _GRAPH_CSS
    graph = traitlets.Dict().tag(sync=True)
    selected_id = traitlets.Unicode("").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
