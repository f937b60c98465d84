// LineageGraph: a lineage layout (jwstnb.widgets._graph.layout_graph) drawn as one SVG.
// Columns share the view's width (empty ones collapse), each file shows its label (what
// tells it apart in its column; long ones elided in the middle, the full name is the hover
// title), the selected file is scrolled into view. Edges of an association role other than
// science (PSF, background...) are drawn in the role's colour with a legend; associations
// are hubs in the gap before their products' column, linked (dashed) to members and
// products. A click on a file or a hub sets selected_id; external files look dimmed.
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
}[c]));

const GAP = 36, ROW_H = 22, BOX_H = 18, TOP = 34, PAD = 8, CHAR_W = 6.6, LEGEND_H = 20;
const HUB_R = 7;
const label = (node) => node[6] || node[1];
// ARC: room right of the last column for same-column arcs (cal -> crf).
const COLLAPSED = 76, MIN_COL = 96, MAX_COL = 460, ARC = 24;

export function elide(name, width) {
  const fits = Math.max(5, Math.floor((width - 16) / CHAR_W));
  if (name.length <= fits) return name;
  // JWST names say most at the end (exposure, detector, suffix): keep two thirds of it.
  const tail = Math.ceil((2 * (fits - 1)) / 3);
  return `${name.slice(0, fits - 1 - tail)}\u2026${name.slice(name.length - tail)}`;
}

// Column x offsets and widths for the available width.
function columnGeometry(columns, nodes, available) {
  let longest = 0;
  for (const node of nodes) longest = Math.max(longest, label(node).length);
  const natural = Math.min(MAX_COL, Math.max(MIN_COL, Math.ceil(16 + longest * CHAR_W)));
  const shown = (c) => c.count + (c.external || 0) > 0;
  const full = columns.filter(shown).length || 1;
  const spare = available - 2 * PAD - ARC - GAP * (columns.length - 1)
    - COLLAPSED * (columns.length - full);
  // Fill the view; below MIN_COL a column would say too little, so the view scrolls.
  const width = Math.max(MIN_COL, Math.min(natural, Math.floor(spare / full)));
  const xs = [], widths = [];
  let x = PAD;
  for (const col of columns) {
    const w = shown(col) ? width : COLLAPSED;
    xs.push(x); widths.push(w);
    x += w + GAP;
  }
  return { xs, widths, total: x - GAP + PAD + ARC };
}

function render({ model, el }) {
  el.classList.add("jwstnb-graph");
  const scroller = document.createElement("div");
  scroller.className = "jwstnb-graph-scroll";
  el.appendChild(scroller);
  let svg = null, geo = null, lastWidth = 0;

  const pos = (node) => [geo.xs[node[2]], TOP + node[3] * ROW_H];
  const curve = (a, b) => {
    const [ax, ay] = pos(a), [bx, by] = pos(b);
    const y1 = ay + BOX_H / 2, y2 = by + BOX_H / 2;
    if (a[2] === b[2]) {  // same column (cal -> crf, asn -> member): an arc on the right
      const x = ax + geo.widths[a[2]];
      return `M${x},${y1}C${x + ARC},${y1} ${x + ARC},${y2} ${x},${y2}`;
    }
    const [left, right] = a[2] < b[2] ? [a, b] : [b, a];
    const [lx, ly] = pos(left), [rx, ry] = pos(right);
    const x1 = lx + geo.widths[left[2]], x2 = rx, mid = (x1 + x2) / 2;
    const l = ly + BOX_H / 2, r = ry + BOX_H / 2;
    return `M${x1},${l}C${mid},${l} ${mid},${r} ${x2},${r}`;
  };

  // An association hub: in the gap left of its column, at the mean row of its products.
  const hubPos = (hub) => {
    const x = hub[3] > 0 ? geo.xs[hub[3]] - GAP / 2 : Math.max(HUB_R, geo.xs[0] - HUB_R);
    return [x, TOP + hub[4] * ROW_H + BOX_H / 2];
  };
  // A dashed link between a hub and a file: from the file's side facing the hub.
  const hubCurve = (hub, node) => {
    const [hx, hy] = hubPos(hub), [nx, ny] = pos(node);
    const y = ny + BOX_H / 2;
    const x = nx + (nx + geo.widths[node[2]] / 2 < hx ? geo.widths[node[2]] : 0);
    const mid = (x + hx) / 2;
    return `M${x},${y}C${mid},${y} ${mid},${hy} ${hx},${hy}`;
  };
  const hubPaths = (hub, nodes) => [...hub[5], ...hub[6]]
    .map((i) => hubCurve(hub, nodes[i])).join("");

  const draw = () => {
    const g = model.get("graph") || {};
    const nodes = g.nodes || [], edges = g.edges || [], columns = g.columns || [];
    const links = g.links || [], roles = g.roles || [], legend = g.legend || [];
    const hubs = g.associations || [];
    if (!nodes.length && !hubs.length) {
      const message = esc(model.get("message") || "No files.");
      scroller.innerHTML = `<div class="jwstnb-graph-message">${message}</div>`;
      svg = null;
      return;
    }
    lastWidth = scroller.clientWidth || el.clientWidth || 960;
    geo = columnGeometry(columns, nodes, lastWidth);
    const body = TOP + Math.max(1, g.rows || 0) * ROW_H + PAD;
    const height = body + (legend.length ? LEGEND_H : 0);
    const paths = columns.map(() => []);
    for (const [p, c] of edges) paths[nodes[p][2]].push(curve(nodes[p], nodes[c]));
    let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${geo.total}" height="${height}">`;
    columns.forEach((col, i) => {
      const label = `${col.level} (${col.count})`;
      const empty = col.count + (col.external || 0) ? "" : " jwstnb-empty";
      out += `<g class="jwstnb-column${empty}" data-level="${esc(col.level)}">`
        + `<rect x="${geo.xs[i]}" y="4" width="${geo.widths[i]}" height="22" rx="4" fill="${col.colour}"/>`
        + `<text x="${geo.xs[i] + 8}" y="19" fill="white" font-weight="600">${esc(label)}</text></g>`;
    });
    columns.forEach((col, i) => {
      if (paths[i].length) {
        out += `<path class="jwstnb-edges" d="${paths[i].join("")}" stroke="${col.colour}"/>`;
      }
    });
    for (const [p, c, role, colour] of roles) {
      out += `<path class="jwstnb-role" data-role="${esc(role)}" stroke="${esc(colour)}" `
        + `d="${curve(nodes[p], nodes[c])}"><title>${esc(role.replace(/_/g, " "))}</title></path>`;
    }
    if (links.length || hubs.length) {
      const d = links.map(([a, b]) => curve(nodes[a], nodes[b])).join("")
        + hubs.map((hub) => hubPaths(hub, nodes)).join("");
      out += `<path class="jwstnb-links" d="${d}"/>`;
    }
    out += `<path class="jwstnb-links-selected" d=""/><path class="jwstnb-edges-selected" d=""/>`;
    for (const hub of hubs) {
      const [hx, hy] = hubPos(hub);
      const title = `${hub[1]}\n${hub[2]}: ${hub[5].length} member(s) -> `
        + `${hub[6].length} product file(s)`;
      out += `<g class="jwstnb-asn" data-id="${esc(hub[0])}" data-name="${esc(hub[1])}" `
        + `transform="translate(${hx},${hy})"><circle r="${HUB_R}"/>`
        + `<text x="0" y="3.5" text-anchor="middle">A</text><title>${esc(title)}</title></g>`;
    }
    legend.forEach(([role, colour], i) => {
      const x = PAD + i * 150, y = body + 4;
      out += `<g class="jwstnb-legend" data-role="${esc(role)}" transform="translate(${x},${y})">`
        + `<line x1="0" y1="7" x2="22" y2="7" stroke="${esc(colour)}"/>`
        + `<text x="28" y="11">${esc(role.replace(/_/g, " "))}</text></g>`;
    });
    for (const node of nodes) {
      const [x, y] = pos(node);
      const col = columns[node[2]];
      const width = geo.widths[node[2]];
      let cls = node[4] ? "jwstnb-node" : "jwstnb-node jwstnb-nonviewable";
      let title = node[1];
      if (node[5]) {
        cls += " jwstnb-external";
        title = `${node[1]}\n(in ${node[5]}: click to open that group)`;
      }
      out += `<g class="${cls}" data-id="${esc(node[0])}" data-name="${esc(node[1])}" `
        + `transform="translate(${x},${y})">`
        + `<rect width="${width}" height="${BOX_H}" rx="3" stroke="${col.colour}"/>`
        + `<rect width="5" height="${BOX_H}" fill="${col.colour}"/>`
        + `<text x="10" y="13">${esc(elide(label(node), width))}</text>`
        + `<title>${esc(title)}</title></g>`;
    }
    out += "</svg>";
    scroller.innerHTML = out;
    svg = scroller.firstChild;
    highlight();
  };

  const reveal = (node) => {
    const [x, y] = pos(node);
    const w = geo.widths[node[2]];
    if (y < scroller.scrollTop || y + BOX_H > scroller.scrollTop + scroller.clientHeight) {
      scroller.scrollTop = Math.max(0, y - scroller.clientHeight / 2);
    }
    if (x < scroller.scrollLeft || x + w > scroller.scrollLeft + scroller.clientWidth) {
      scroller.scrollLeft = Math.max(0, x + w - scroller.clientWidth + PAD);
    }
  };

  const highlight = () => {
    if (!svg) return;
    const selected = model.get("selected_id");
    for (const old of svg.querySelectorAll(".jwstnb-selected")) {
      old.classList.remove("jwstnb-selected");
    }
    const g = model.get("graph") || {};
    const nodes = g.nodes || [], hubs = g.associations || [];
    const path = svg.querySelector(".jwstnb-edges-selected");
    const linkPath = svg.querySelector(".jwstnb-links-selected");
    const index = selected ? nodes.findIndex((n) => n[0] === selected) : -1;
    const hub = selected ? hubs.find((h) => h[0] === selected) : undefined;
    if (hub) {
      const mark = svg.querySelector(`g.jwstnb-asn[data-id="${CSS.escape(selected)}"]`);
      if (mark) mark.classList.add("jwstnb-selected");
      path.setAttribute("d", "");
      linkPath.setAttribute("d", hubPaths(hub, nodes));
      return;
    }
    if (index < 0) { path.setAttribute("d", ""); linkPath.setAttribute("d", ""); return; }
    const target = svg.querySelector(`g.jwstnb-node[data-id="${CSS.escape(selected)}"]`);
    if (target) target.classList.add("jwstnb-selected");
    const pick = (pairs) => pairs.filter(([p, c]) => p === index || c === index)
      .map(([p, c]) => curve(nodes[p], nodes[c])).join("");
    path.setAttribute("d", pick(g.edges || []));
    const mine = hubs.filter((h) => h[5].includes(index) || h[6].includes(index))
      .map((h) => hubCurve(h, nodes[index])).join("");
    linkPath.setAttribute("d", pick(g.links || []) + mine);
    reveal(nodes[index]);
  };

  scroller.addEventListener("click", (event) => {
    const node = event.target.closest("g.jwstnb-node, g.jwstnb-asn");
    if (!node) return;
    model.set("selected_id", node.dataset.id);
    model.save_changes();
  });
  // Fit the notebook's width: lay out again when the view's width changes.
  const resized = new ResizeObserver(() => {
    const width = scroller.clientWidth;
    if (width && Math.abs(width - lastWidth) > 4) draw();
  });
  resized.observe(scroller);
  model.on("change:graph", draw);
  model.on("change:message", draw);
  model.on("change:selected_id", highlight);
  draw();
  return () => {
    resized.disconnect();
    model.off("change:graph", draw);
    model.off("change:message", draw);
    model.off("change:selected_id", highlight);
  };
}
export default { render };
