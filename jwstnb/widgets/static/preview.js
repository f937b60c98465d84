// FitsPreview's browser view (anywidget): the picture with zoom and pan, the colour bar,
// and the readout of the pixel under the pointer.
//
// The Python side sends `png` (one PNG pixel per shown data pixel, north up), `shape`
// ([height, width] shown), `step` (data pixels per shown pixel), `bar_png`, `ticks` and
// `unit`. This view sets `pointer` ([x, y], 0-based full-resolution pixel) when the pointer
// moves to another pixel, and `zoom`; the Python side answers with `readout`.

const MIN_ZOOM = 0.5;
const MAX_ZOOM = 64;
const WHEEL_RATE = 0.0015;
const BUTTON_FACTOR = 1.5;

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  }[c]));
}

function pngUrl(view) {
  if (!view || !view.byteLength) return null;
  return URL.createObjectURL(new Blob([view], { type: "image/png" }));
}

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
    <div class="jwstnb-pv-viewport" tabindex="0">
      <img class="jwstnb-preview-image" alt="" draggable="false">
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
  const urls = { image: null, bar: null };
  let scale = 1, fitScale = 1, tx = 0, ty = 0;
  let drag = null;
  let lastPointer = "";

  const apply = () => {
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
      message.style.display = "";
      message.textContent = model.get("message") || "";
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
  const onMessage = () => { message.textContent = model.get("message") || ""; };
  const onKind = () => { el.dataset.kind = model.get("kind"); drawBar(); };
  const listeners = [
    ["change:png", onPicture], ["change:kind", onKind], ["change:bar_png", drawBar],
    ["change:ticks", drawBar], ["change:unit", drawBar], ["change:message", onMessage],
    ["change:readout", showReadout],
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
