// LineageGraph: a lineage layout (jwstnb.widgets._graph.layout_graph) drawn as one SVG.
// Columns share the view's width (empty ones collapse), long names are elided in the
// middle (the full name is the hover title), the selected file is scrolled into view.
// A click on a file sets selected_id; external files (another group's) look dimmed.
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
}[c]));

const GAP = 36, ROW_H = 22, BOX_H = 18, TOP = 34, PAD = 8, CHAR_W = 6.6;
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
  for (const node of nodes) longest = Math.max(longest, node[1].length);
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

  const draw = () => {
    const g = model.get("graph") || {};
    const nodes = g.nodes || [], edges = g.edges || [], columns = g.columns || [];
    const links = g.links || [];
    if (!nodes.length) {
      const message = esc(model.get("message") || "No files.");
      scroller.innerHTML = `<div class="jwstnb-graph-message">${message}</div>`;
      svg = null;
      return;
    }
    lastWidth = scroller.clientWidth || el.clientWidth || 960;
    geo = columnGeometry(columns, nodes, lastWidth);
    const height = TOP + Math.max(1, g.rows || 0) * ROW_H + PAD;
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
    if (links.length) {
      const d = links.map(([a, b]) => curve(nodes[a], nodes[b])).join("");
      out += `<path class="jwstnb-links" d="${d}"/>`;
    }
    out += `<path class="jwstnb-links-selected" d=""/><path class="jwstnb-edges-selected" d=""/>`;
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
        + `<text x="10" y="13">${esc(elide(node[1], width))}</text><title>${esc(title)}</title></g>`;
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
    const nodes = g.nodes || [];
    const path = svg.querySelector(".jwstnb-edges-selected");
    const linkPath = svg.querySelector(".jwstnb-links-selected");
    const index = selected ? nodes.findIndex((n) => n[0] === selected) : -1;
    if (index < 0) { path.setAttribute("d", ""); linkPath.setAttribute("d", ""); return; }
    const target = svg.querySelector(`g.jwstnb-node[data-id="${CSS.escape(selected)}"]`);
    if (target) target.classList.add("jwstnb-selected");
    const pick = (pairs) => pairs.filter(([p, c]) => p === index || c === index)
      .map(([p, c]) => curve(nodes[p], nodes[c])).join("");
    path.setAttribute("d", pick(g.edges || []));
    linkPath.setAttribute("d", pick(g.links || []));
    reveal(nodes[index]);
  };

  scroller.addEventListener("click", (event) => {
    const node = event.target.closest("g.jwstnb-node");
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
