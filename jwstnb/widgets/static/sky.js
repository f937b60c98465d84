// SkyView: footprints on a tangent plane (jwstnb.widgets.sky.make_scene) drawn as one SVG.
// Python computes every coordinate (plane degrees, x growing to the right = RA decreasing);
// this file only scales the plane to pixels. No network: no tiles, no fonts, no CDN.
// Hover names the file; a click sets selected_id; a drag sets box ([x0, y0, x1, y1] degrees).
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
}[c]));

const MAX_W = 760, MARGIN = 28, DRAG = 5;

function render({ model, el }) {
  el.classList.add("jwstnb-sky");
  const frame = document.createElement("div");
  frame.className = "jwstnb-sky-frame";
  const hover = document.createElement("div");
  hover.className = "jwstnb-sky-hover";
  const caption = document.createElement("div");
  caption.className = "jwstnb-sky-caption";
  el.append(frame, hover, caption);
  let svg = null, geo = null, lastWidth = 0;

  // Plane degrees -> pixels (equal scale on both axes, y up on the sky, down on screen).
  const px = (p) => [MARGIN + (p[0] - geo.x0) * geo.k, MARGIN + (geo.y1 - p[1]) * geo.k];
  const plane = (x, y) => [geo.x0 + (x - MARGIN) / geo.k, geo.y1 - (y - MARGIN) / geo.k];
  const path = (pts, close) => pts.map((p, i) => {
    const [x, y] = px(p);
    return `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`;
  }).join("") + (close ? "Z" : "");

  const draw = () => {
    const scene = model.get("scene") || {};
    const message = model.get("message");
    caption.textContent = model.get("caption") || "";
    if (message || !scene.extent) {
      frame.innerHTML = `<div class="jwstnb-sky-message">${esc(message || "Nothing to map.")}</div>`;
      svg = null;
      return;
    }
    lastWidth = frame.clientWidth || el.clientWidth || MAX_W;
    const [x0, x1, y0, y1] = scene.extent;
    const width = Math.min(MAX_W, Math.max(320, lastWidth));
    const k = (width - 2 * MARGIN) / (x1 - x0);
    const height = Math.round((y1 - y0) * k + 2 * MARGIN);
    geo = { x0, y1, k, width, height };
    const clip = `<clipPath id="jwstnb-sky-clip-${model.cid || "v"}"><rect x="${MARGIN}" `
      + `y="${MARGIN}" width="${width - 2 * MARGIN}" height="${height - 2 * MARGIN}"/></clipPath>`;
    let out = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
      + `<defs>${clip}</defs><rect class="jwstnb-sky-bg" x="${MARGIN}" y="${MARGIN}" `
      + `width="${width - 2 * MARGIN}" height="${height - 2 * MARGIN}"/>`
      + `<g clip-path="url(#jwstnb-sky-clip-${model.cid || "v"})">`;
    for (const line of scene.grid || []) {
      out += `<path class="jwstnb-sky-grid jwstnb-sky-grid-${line.kind}" d="${path(line.points)}"/>`;
    }
    if ((scene.coverage || []).length) {
      out += `<path class="jwstnb-sky-coverage" d="${scene.coverage.map((r) => path(r, true)).join("")}"/>`;
    }
    if ((scene.cone || []).length) {
      out += `<path class="jwstnb-sky-cone" d="${path(scene.cone, true)}"/>`;
    }
    for (const s of scene.shapes || []) {
      const title = `<title>${esc(s.name)} (${esc(s.level)})</title>`;
      out += `<g class="jwstnb-sky-shape" data-id="${esc(s.id)}" data-name="${esc(s.name)}" `
        + `data-level="${esc(s.level)}" style="--level:${esc(s.colour)}">`;
      if (s.polygons.length) {
        out += `<path class="jwstnb-sky-footprint" d="${s.polygons.map((r) => path(r, true)).join("")}"/>`;
      } else {
        const [x, y] = px(s.point);
        out += `<circle class="jwstnb-sky-point" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4"/>`;
      }
      out += `${title}</g>`;
    }
    out += `</g>`;
    for (const line of scene.grid || []) {
      const [x, y] = px(line.anchor);
      if (line.kind === "ra") {
        out += `<text class="jwstnb-sky-label jwstnb-sky-label-ra" x="${x.toFixed(1)}" y="${height - MARGIN + 14}" `
          + `text-anchor="middle">${esc(line.label)}</text>`;
      } else {
        out += `<text class="jwstnb-sky-label jwstnb-sky-label-dec" x="${MARGIN - 3}" y="${(y + 3).toFixed(1)}" `
          + `text-anchor="end" transform="rotate(-90 ${MARGIN - 3} ${(y + 3).toFixed(1)})">`
          + `${esc(line.label)}</text>`;
      }
    }
    out += `<text class="jwstnb-sky-axis" x="${width - MARGIN}" y="${MARGIN - 8}" text-anchor="end">`
      + `E \u2190 RA \u00b7 Dec \u2191 N</text>`
      + `<rect class="jwstnb-sky-drag" x="0" y="0" width="0" height="0"/></svg>`;
    frame.innerHTML = out;
    svg = frame.firstChild;
    highlight();
  };

  const highlight = () => {
    caption.textContent = model.get("caption") || "";
    if (!svg) return;
    for (const old of svg.querySelectorAll(".jwstnb-selected")) old.classList.remove("jwstnb-selected");
    const id = model.get("selected_id");
    if (!id) return;
    const target = svg.querySelector(`g.jwstnb-sky-shape[data-id="${CSS.escape(id)}"]`);
    if (target) {
      target.classList.add("jwstnb-selected");
      target.parentNode.appendChild(target);  // on top
    }
  };

  // Pointer: a press and release in place is a click (select); a drag draws a box.
  let start = null;
  const local = (event) => {
    const r = svg.getBoundingClientRect();
    return [event.clientX - r.left, event.clientY - r.top];
  };
  frame.addEventListener("pointerdown", (event) => {
    if (!svg || event.button !== 0) return;
    start = local(event);
  });
  frame.addEventListener("pointermove", (event) => {
    const shape = event.target.closest && event.target.closest("g.jwstnb-sky-shape");
    hover.textContent = shape ? `${shape.dataset.name} (${shape.dataset.level})` : "";
    if (!start || !svg) return;
    const [x, y] = local(event);
    const rect = svg.querySelector(".jwstnb-sky-drag");
    rect.setAttribute("x", Math.min(x, start[0]));
    rect.setAttribute("y", Math.min(y, start[1]));
    rect.setAttribute("width", Math.abs(x - start[0]));
    rect.setAttribute("height", Math.abs(y - start[1]));
  });
  frame.addEventListener("pointerleave", () => { hover.textContent = ""; });
  frame.addEventListener("pointerup", (event) => {
    if (!start || !svg) return;
    const [x, y] = local(event);
    const from = start;
    start = null;
    const rect = svg.querySelector(".jwstnb-sky-drag");
    rect.setAttribute("width", 0);
    rect.setAttribute("height", 0);
    if (Math.abs(x - from[0]) < DRAG && Math.abs(y - from[1]) < DRAG) {
      const shape = event.target.closest && event.target.closest("g.jwstnb-sky-shape");
      model.set("selected_id", shape ? shape.dataset.id : "");
      model.save_changes();
      return;
    }
    const [ax, ay] = plane(from[0], from[1]), [bx, by] = plane(x, y);
    model.set("box", [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)]);
    model.save_changes();
  });
  const resized = new ResizeObserver(() => {
    const width = frame.clientWidth;
    if (width && Math.abs(width - lastWidth) > 4 && lastWidth < MAX_W + 4) draw();
  });
  resized.observe(frame);
  model.on("change:scene", draw);
  model.on("change:message", draw);
  model.on("change:selected_id", highlight);
  model.on("change:caption", highlight);
  draw();
  return () => {
    resized.disconnect();
    model.off("change:scene", draw);
    model.off("change:message", draw);
    model.off("change:selected_id", highlight);
    model.off("change:caption", highlight);
  };
}
export default { render };
