// ResultsTable: one page of search results. A click (or Enter) on a row sets selected_id;
// a click on a sortable header sets `order` ("field" ascending, "-field" descending).
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({
  "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
}[c]));

function badge(value, colours) {
  const colour = colours[value] || colours.unknown || "#6b7280";
  return `<span class="jwstnb-badge" style="background:${colour}">${esc(value || "unknown")}</span>`;
}

function header(column, order) {
  const [key, label, field, firstDescending] = column;
  if (!field) return `<th data-col="${esc(key)}">${esc(label)}</th>`;
  const descending = order === `-${field}`;
  const active = descending || order === field;
  const arrow = active ? (descending ? " \u25BC" : " \u25B2") : "";
  const next = active ? (descending ? field : `-${field}`) : (firstDescending ? `-${field}` : field);
  const sort = active ? (descending ? "descending" : "ascending") : "none";
  return `<th class="jwstnb-sortable" data-col="${esc(key)}" data-order="${esc(next)}" `
    + `aria-sort="${sort}" title="Sort by ${esc(label)}">${esc(label)}${arrow}</th>`;
}

function render({ model, el }) {
  el.classList.add("jwstnb-table");
  const draw = () => {
    const rows = model.get("rows") || [];
    const columns = model.get("columns") || [];
    const selected = model.get("selected_id");
    const colours = model.get("level_colours") || {};
    const order = model.get("order") || "";
    if (!rows.length) {
      el.innerHTML = `<div class="jwstnb-table-message">${esc(model.get("message") || "")}</div>`;
      return;
    }
    const head = columns.map((column) => header(column, order)).join("");
    const body = rows.map((row) => {
      const cells = columns.map(([key]) => {
        const value = row[key];
        if (key === "thumb") {
          return value ? `<td class="jwstnb-thumb"><img alt="" src="${value}"></td>` : "<td></td>";
        }
        if (key === "processing_level") return `<td data-col="${key}">${badge(value, colours)}</td>`;
        const text = Array.isArray(value) ? value.join(", ") : value;
        return `<td data-col="${esc(key)}" title="${esc(text)}">${esc(text)}</td>`;
      }).join("");
      const cls = row.id === selected ? "jwstnb-row jwstnb-selected" : "jwstnb-row";
      return `<tr class="${cls}" data-id="${esc(row.id)}" tabindex="0">${cells}</tr>`;
    }).join("");
    el.innerHTML = `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  };
  const choose = (event) => {
    const th = event.target.closest("th[data-order]");
    if (th) {
      model.set("order", th.dataset.order);
      model.save_changes();
      return;
    }
    const tr = event.target.closest("tr[data-id]");
    if (!tr) return;
    model.set("selected_id", tr.dataset.id);
    model.save_changes();
  };
  const onKey = (event) => { if (event.key === "Enter") choose(event); };
  el.addEventListener("click", choose);
  el.addEventListener("keydown", onKey);
  const events = ["change:rows", "change:selected_id", "change:message", "change:order"];
  for (const name of events) model.on(name, draw);
  draw();
  return () => { for (const name of events) model.off(name, draw); };
}
export default { render };
