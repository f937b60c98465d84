// FitsPreview's browser view (anywidget): the picture with zoom and pan, the colour bar,
// and the readout of the pixel under the pointer.
//
// The Python side sends `png` (one PNG pixel per shown data pixel, north up), `shape`
// ([height, width] shown), `step` (data pixels per shown pixel), `bar_png`, `ticks` and
// `unit`. This view sets `pointer` ([x, y], 0-based full-resolution pixel) when the pointer
// moves to another pixel, and `zoom`; the Python side answers with `readout`. With a
// celestial WCS, `world_grid` holds RA/Dec on a coarse grid of pixel positions; the RA axis
// (bottom) and Dec axis (left) are labelled from it for whatever part is in view.

const MIN_ZOOM = 0.5;
const MAX_ZOOM = 64;
const WHEEL_RATE = 0.0015;
const BUTTON_FACTOR = 1.5;
// Tick steps: RA in seconds of time, Dec in arcseconds.
const RA_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
  1800, 3600, 7200, 10800, 21600];
const DEC_STEPS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
  1800, 3600, 7200, 18000, 36000];
const EDGE_SAMPLES = 120;
const LABEL_GAP = { x: 80, y: 18 };  // pixels between labels on each axis

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  }[c]));
}

function pngUrl(view) {
  if (!view || !view.byteLength) return null;
  return URL.createObjectURL(new Blob([view], { type: "image/png" }));
}

// RA/Dec (degrees) at pixel (x, y): bilinear in the grid (uniform steps), linear beyond it.
function worldAt(grid, x, y) {
  const xs = grid.x, ys = grid.y, nx = xs.length;
  const cell = (value, axis) => {
    const size = (axis[axis.length - 1] - axis[0]) / (axis.length - 1);
    const i = Math.min(axis.length - 2, Math.max(0, Math.floor((value - axis[0]) / size)));
    return [i, (value - axis[i]) / size];
  };
  const [i, u] = cell(x, xs), [j, v] = cell(y, ys);
  const at = (a) => a[j * nx + i] * (1 - u) * (1 - v) + a[j * nx + i + 1] * u * (1 - v)
    + a[(j + 1) * nx + i] * (1 - u) * v + a[(j + 1) * nx + i + 1] * u * v;
  return [at(grid.ra), at(grid.dec)];
}

function pickStep(span, steps, most) {
  return steps.find((step) => span / step <= most) ?? steps[steps.length - 1];
}

// Where the sampled `values` (at screen `positions`) cross multiples of `step`.
function crossings(values, positions, step, gap) {
  const out = [];
  for (let i = 0; i + 1 < values.length; i++) {
    const a = values[i], b = values[i + 1];
    for (let k = Math.ceil(Math.min(a, b) / step); k * step <= Math.max(a, b); k++) {
      const t = b === a ? 0 : (k * step - a) / (b - a);
      const at = positions[i] + t * (positions[i + 1] - positions[i]);
      if (out.every(([p, value]) => value !== k * step && Math.abs(p - at) >= gap)) {
        out.push([at, k * step]);
      }
    }
  }
  return out;
}

function sexagesimal(total, step, units) {
  const digits = step < 0.1 ? 2 : step < 1 ? 1 : 0;
  const sign = total < 0 ? "-" : units[0] === "°" ? "+" : "";
  let rest = Math.round(Math.abs(total) * 10 ** digits) / 10 ** digits;
  const whole = Math.floor(rest / 3600); rest -= whole * 3600;
  const minutes = Math.floor(rest / 60); rest -= minutes * 60;
  const two = (n) => String(n).padStart(2, "0");
  if (step >= 3600) return `${sign}${whole}${units[0]}`;
  if (step >= 60) return `${sign}${whole}${units[0]}${two(minutes)}${units[1]}`;
  const seconds = rest.toFixed(digits).padStart(digits ? digits + 3 : 2, "0");
  return `${sign}${whole}${units[0]}${two(minutes)}${units[1]}${seconds}${units[2]}`;
}

const formatRa = (seconds, step) => sexagesimal(((seconds % 86400) + 86400) % 86400, step,
  ["h", "m", "s"]);
const formatDec = (arcsec, step) => sexagesimal(arcsec, step, ["°", "′", "″"]);

function render({ model, el }) {
  el.classList.add("jwstnb-pv");
  el.innerHTML = `
    <div class="jwstnb-pv-toolbar">
      <button type="button" class="jwstnb-pv-zoom-in" title="Zoom in (or turn the wheel)">+</button>
      <button type="button" class="jwstnb-pv-zoom-out" title="Zoom out">&minus;</button>
      <button type="button" class="jwstnb-pv-fit" title="Fit the picture in the view">Fit</button>
      <span class="jwstnb-pv-zoom"></span>
      <span class="jwstnb-pv-hint">wheel or +/&minus; to zoom, drag to pan</span>
    </div>
    <div class="jwstnb-pv-readout"></div>
    <div class="jwstnb-pv-frame">
      <div class="jwstnb-pv-axis-y" title="Declination"></div>
      <div class="jwstnb-pv-viewport" tabindex="0">
        <img class="jwstnb-preview-image" alt="" draggable="false">
      </div>
      <div></div>
      <div class="jwstnb-pv-axis-x" title="Right ascension"></div>
    </div>
    <div class="jwstnb-pv-message"></div>
    <div class="jwstnb-pv-bar">
      <img class="jwstnb-pv-bar-image" alt="" draggable="false">
      <div class="jwstnb-pv-ticks"></div>
      <div class="jwstnb-pv-unit"></div>
    </div>`;
  const $ = (selector) => el.querySelector(selector);
  const viewport = $(".jwstnb-pv-viewport");
  const image = $(".jwstnb-preview-image");
  const readout = $(".jwstnb-pv-readout");
  const zoomLabel = $(".jwstnb-pv-zoom");
  const message = $(".jwstnb-pv-message");
  const bar = $(".jwstnb-pv-bar");
  const barImage = $(".jwstnb-pv-bar-image");
  const frame = $(".jwstnb-pv-frame");
  const axisX = $(".jwstnb-pv-axis-x");
  const axisY = $(".jwstnb-pv-axis-y");
  const urls = { image: null, bar: null };
  let scale = 1, fitScale = 1, tx = 0, ty = 0;
  let drag = null;
  let lastPointer = "";

  const drawAxes = () => {
    const grid = model.get("world_grid") || {};
    const [height, width] = model.get("shape") || [0, 0];
    const vw = viewport.clientWidth, vh = viewport.clientHeight;
    const u0 = Math.max(0, -tx / scale), u1 = Math.min(width, (vw - tx) / scale);
    const v0 = Math.max(0, -ty / scale), v1 = Math.min(height, (vh - ty) / scale);
    const show = model.get("kind") === "image" && (grid.ra || []).length > 0;
    frame.classList.toggle("jwstnb-pv-noaxes", !show);
    axisX.innerHTML = axisY.innerHTML = "";
    if (!show || u1 <= u0 || v1 <= v0) return;
    const step = model.get("step") || 1;
    const world = (u, v) => worldAt(grid, u * step - 0.5, (height - v) * step - 0.5);
    const along = (from, to, point, scaleBy) => {
      const screen = [], ra = [], dec = [];
      for (let i = 0; i <= EDGE_SAMPLES; i++) {
        const t = from + (to - from) * i / EDGE_SAMPLES;
        const [a, d] = point(t);
        screen.push(scaleBy(t)); ra.push(a * 240); dec.push(d * 3600);
      }
      return { screen, ra, dec };
    };
    const label = (cls, side, at, text) =>
      `<span class="jwstnb-pv-axis-label ${cls}" style="${side}:${at.toFixed(1)}px">${text}</span>`;
    const bottom = along(u0, u1, (u) => world(u, v1), (u) => tx + u * scale);
    const raStep = pickStep(Math.max(...bottom.ra) - Math.min(...bottom.ra), RA_STEPS, 4);
    axisX.innerHTML = crossings(bottom.ra, bottom.screen, raStep, LABEL_GAP.x)
      .map(([x, value]) => label("jwstnb-pv-ra", "left", x, formatRa(value, raStep))).join("");
    const left = along(v0, v1, (v) => world(u0, v), (v) => ty + v * scale);
    const decStep = pickStep(Math.max(...left.dec) - Math.min(...left.dec), DEC_STEPS, 5);
    axisY.innerHTML = crossings(left.dec, left.screen, decStep, LABEL_GAP.y)
      .map(([y, value]) => label("jwstnb-pv-dec", "top", y, formatDec(value, decStep))).join("");
  };

  const apply = () => {
    drawAxes();
    image.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    image.classList.toggle("jwstnb-pv-pixelated", scale > 2);
    const zoom = scale / fitScale;
    zoomLabel.textContent = `${zoom.toFixed(zoom < 10 ? 1 : 0)}×`;
    if (Math.abs(model.get("zoom") - zoom) > 1e-3) {
      model.set("zoom", zoom);
      model.save_changes();
    }
  };

  const sizeViewport = () => {
    const w = image.naturalWidth, h = image.naturalHeight;
    if (!w || !h) return;
    const width = viewport.clientWidth || 560;
    const height = Math.max(160, Math.min(640, Math.round(width * h / w)));
    viewport.style.height = `${height}px`;
  };

  const fit = () => {
    const w = image.naturalWidth, h = image.naturalHeight;
    if (!w || !h) return;
    sizeViewport();
    const vw = viewport.clientWidth, vh = viewport.clientHeight;
    fitScale = Math.min(vw / w, vh / h);
    scale = fitScale;
    tx = (vw - w * scale) / 2;
    ty = (vh - h * scale) / 2;
    apply();
  };

  const zoomAt = (px, py, factor) => {
    const next = Math.min(fitScale * MAX_ZOOM, Math.max(fitScale * MIN_ZOOM, scale * factor));
    tx = px - (px - tx) * (next / scale);
    ty = py - (py - ty) * (next / scale);
    scale = next;
    apply();
  };

  const centre = () => [viewport.clientWidth / 2, viewport.clientHeight / 2];

  const drawPicture = () => {
    const kind = model.get("kind");
    const url = pngUrl(model.get("png"));
    if (urls.image) URL.revokeObjectURL(urls.image);
    urls.image = url;
    el.dataset.kind = kind;
    if (!url) {
      image.removeAttribute("src");
      viewport.style.display = "none";
      onMessage();
      lastPointer = "";
      readout.textContent = "";
      return;
    }
    viewport.style.display = "";
    message.style.display = "none";
    const first = !image.getAttribute("src");
    const keepView = !first && image.dataset.shape === JSON.stringify(model.get("shape"));
    image.dataset.shape = JSON.stringify(model.get("shape"));
    image.onload = () => { if (!keepView) fit(); else apply(); };
    image.src = url;
  };

  const drawBar = () => {
    const show = model.get("kind") === "image" && model.get("bar_png").byteLength > 0;
    bar.style.display = show ? "" : "none";
    if (!show) return;
    if (urls.bar) URL.revokeObjectURL(urls.bar);
    urls.bar = pngUrl(model.get("bar_png"));
    barImage.src = urls.bar;
    $(".jwstnb-pv-ticks").innerHTML = (model.get("ticks") || []).map(([position, label]) => {
      const left = (100 * position).toFixed(2);
      return `<span class="jwstnb-pv-tick" style="left:${left}%">${esc(label)}</span>`;
    }).join("");
    $(".jwstnb-pv-unit").textContent = model.get("unit") || "";
  };

  const pixelAt = (event) => {
    const rect = viewport.getBoundingClientRect();
    const px = (event.clientX - rect.left - tx) / scale;
    const py = (event.clientY - rect.top - ty) / scale;
    const [height, width] = model.get("shape") || [0, 0];
    const column = Math.floor(px), row = Math.floor(py);
    if (column < 0 || row < 0 || column >= width || row >= height) return null;
    const step = model.get("step") || 1;
    return [column * step, (height - 1 - row) * step];  // the PNG is north up: flip rows
  };

  const onMove = (event) => {
    if (drag) {
      tx = drag.tx + event.clientX - drag.x;
      ty = drag.ty + event.clientY - drag.y;
      apply();
      return;
    }
    if (model.get("kind") !== "image") return;
    const pixel = pixelAt(event);
    const key = pixel ? pixel.join(",") : "";
    if (!pixel || key === lastPointer) return;
    lastPointer = key;
    model.set("pointer", pixel);
    model.save_changes();
  };

  viewport.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = viewport.getBoundingClientRect();
    zoomAt(event.clientX - rect.left, event.clientY - rect.top,
      Math.exp(-event.deltaY * WHEEL_RATE));
  }, { passive: false });
  viewport.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, tx, ty };
    viewport.setPointerCapture(event.pointerId);
    viewport.classList.add("jwstnb-pv-dragging");
  });
  const endDrag = (event) => {
    if (!drag) return;
    drag = null;
    viewport.classList.remove("jwstnb-pv-dragging");
    if (viewport.hasPointerCapture(event.pointerId)) {
      viewport.releasePointerCapture(event.pointerId);
    }
  };
  viewport.addEventListener("pointerup", endDrag);
  viewport.addEventListener("pointercancel", endDrag);
  viewport.addEventListener("pointermove", onMove);
  viewport.addEventListener("dblclick", (event) => {
    const rect = viewport.getBoundingClientRect();
    zoomAt(event.clientX - rect.left, event.clientY - rect.top, 2);
  });
  viewport.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
    if (event.key === "+" || event.key === "=") zoomAt(...centre(), BUTTON_FACTOR);
    else if (event.key === "-") zoomAt(...centre(), 1 / BUTTON_FACTOR);
    else if (event.key === "0") fit();
    else if (moves[event.key]) { tx += moves[event.key][0]; ty += moves[event.key][1]; apply(); }
    else return;
    event.preventDefault();
  });
  $(".jwstnb-pv-zoom-in").addEventListener("click", () => zoomAt(...centre(), BUTTON_FACTOR));
  $(".jwstnb-pv-zoom-out").addEventListener("click", () => zoomAt(...centre(), 1 / BUTTON_FACTOR));
  $(".jwstnb-pv-fit").addEventListener("click", fit);

  const showReadout = () => { readout.textContent = model.get("readout") || ""; };
  const onPicture = () => { drawPicture(); drawBar(); };
  function onMessage() {
    const text = model.get("message") || "";
    message.textContent = text;
    message.style.display = text && !image.getAttribute("src") ? "" : "none";
  }
  const onKind = () => { el.dataset.kind = model.get("kind"); drawBar(); drawAxes(); };
  const listeners = [
    ["change:png", onPicture], ["change:kind", onKind], ["change:bar_png", drawBar],
    ["change:ticks", drawBar], ["change:unit", drawBar], ["change:message", onMessage],
    ["change:readout", showReadout], ["change:world_grid", drawAxes],
  ];
  for (const [event, handler] of listeners) model.on(event, handler);
  onPicture();
  showReadout();
  const resize = new ResizeObserver(() => { if (image.getAttribute("src")) fit(); });
  resize.observe(viewport);
  return () => {
    resize.disconnect();
    for (const [event, handler] of listeners) model.off(event, handler);
    for (const url of Object.values(urls)) if (url) URL.revokeObjectURL(url);
  };
}

export default { render };
