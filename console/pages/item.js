/* Item history: find an item by its id on either system; its link, snapshot, last versions and the runs
   that touched it (GET /api/scenarios/{s}/items?id=&side=&entity=). */
"use strict";

(() => {
  const { el, api, table, fmtTime, fmtValue, showError, param } = Tandem;

  function keyValues(caption, object) {
    const rows = Object.entries(object || {}).map(([k, v]) => [k, el("span", { class: "mono" }, fmtValue(v))]);
    return table(caption, ["Name", "Value"], rows, `${caption}: none.`);
  }

  function showItem(holder, scenario, item) {
    const events = (item.events || []).map((e) => [
      fmtTime(e.at), e.run_id ? el("code", {}, e.run_id) : "—", e.direction || "—",
      el("span", { class: `badge${e.action === "failed" || e.action === "conflict" ? " bad" : ""}` }, e.action),
      (e.fields || []).join(", ") || "—",
    ]);
    const versions = item.versions || {};
    holder.replaceChildren(
      el("h2", {}, `${item.entity || "item"} ${item.left_id || "—"} ↔ ${item.right_id || "—"}`),
      el("ul", { class: "figures" },
        el("li", {}, el("strong", {}, item.left_id || "—"), "left id"),
        el("li", {}, el("strong", {}, item.right_id || "—"), "right id"),
        el("li", {}, el("strong", {}, fmtValue(versions.left)), "left version"),
        el("li", {}, el("strong", {}, fmtValue(versions.right)), "right version"),
      ),
      item.link ? keyValues("Link", item.link) : el("p", { class: "empty" }, "Not linked yet."),
      item.snapshot ? keyValues("Snapshot (the values last synced)", item.snapshot) : el("p", { class: "empty" }, "No snapshot."),
      (item.notes || []).length ? el("div", {}, el("h3", {}, "Notes"), el("ul", {}, item.notes.map((n) => el("li", {}, typeof n === "string" ? n : JSON.stringify(n))))) : null,
      table("Runs that touched it (newest first)", ["At", "Run", "Direction", "Action", "Fields"], events, "No runs touched it yet."),
    );
    void scenario;
  }

  async function render() {
    const content = document.getElementById("content");
    const overview = await api("GET", "/admin/overview");
    const names = (overview.integrations || []).map((i) => i.name);
    const form = el("form", { class: "card", id: "find", method: "get" },
      el("label", { for: "scenario" }, "Integration"),
      el("select", { id: "scenario", name: "scenario" }, names.map((n) => el("option", { value: n, selected: n === param("scenario") }, n))),
      el("label", { for: "item-id" }, "Item id (on either system)"),
      el("input", { id: "item-id", name: "id", type: "text", required: true, value: param("id") || "" }),
      el("label", { for: "side" }, "System"),
      el("select", { id: "side", name: "side" },
        el("option", { value: "" }, "either"),
        el("option", { value: "left", selected: param("side") === "left" }, "left"),
        el("option", { value: "right", selected: param("side") === "right" }, "right")),
      el("label", { for: "entity" }, "Entity (optional)"),
      el("input", { id: "entity", name: "entity", type: "text", value: param("entity") || "" }),
      el("div", {}, el("button", { type: "submit" }, "Find")),
    );
    const result = el("section", { id: "item", "aria-live": "polite" });
    content.replaceChildren(form, result);
    const find = async () => {
      const values = new FormData(form);
      const query = new URLSearchParams({ id: values.get("id") });
      if (values.get("side")) query.set("side", values.get("side"));
      if (values.get("entity")) query.set("entity", values.get("entity"));
      try {
        const data = await api("GET", `/scenarios/${encodeURIComponent(values.get("scenario"))}/items?${query}`);
        Tandem.clearErrors(form);
        showItem(result, values.get("scenario"), data.item);
        history.replaceState(null, "", `?scenario=${encodeURIComponent(values.get("scenario"))}&${query}`);
      } catch (exc) {
        result.replaceChildren();
        showError(form, exc);
      }
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      find();
    });
    if (param("id") && names.length) await find();
  }

  Tandem.start(render);
})();
