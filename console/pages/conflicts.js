/* Conflicts: each flagged field with both values and the snapshot (base); resolve by choosing a side or
   typing a value (GET/POST /api/scenarios/{s}/conflicts). */
"use strict";

(() => {
  const { el, api, fmtTime, fmtValue, showError, announce, param } = Tandem;

  async function scenarios() {
    const data = await api("GET", "/admin/overview");
    return (data.integrations || []).map((i) => i.name);
  }

  function parseTyped(text) {
    // A typed value is JSON when it parses as JSON (numbers, true, null, "quoted"), else the text itself.
    try {
      return JSON.parse(text);
    } catch (exc) {
      return text;
    }
  }

  function conflictCard(scenario, c, refresh) {
    const id = `c-${String(c.id).replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const form = el("form", { class: "resolve", "aria-labelledby": `${id}-title`, "data-conflict": c.id });
    const choice = (value, label) => {
      const input = el("input", { type: "radio", name: "side", value, id: `${id}-${value}` });
      if (value === "left") input.checked = true;
      return el("span", { class: "choice" }, input, el("label", { for: `${id}-${value}` }, label));
    };
    const typed = el("input", { type: "text", name: "value", id: `${id}-value`, "aria-describedby": `${id}-value-help` });
    form.append(
      el("fieldset", {}, el("legend", {}, "Keep"),
        choice("left", `left: ${fmtValue(c.left_value)}`),
        choice("right", `right: ${fmtValue(c.right_value)}`),
        choice("typed", "a value I type"),
      ),
      el("label", { for: `${id}-value` }, "Typed value"),
      typed,
      el("p", { class: "help", id: `${id}-value-help` }, "Used when “a value I type” is chosen; JSON (a number, true, null) or plain text."),
      el("button", { type: "submit" }, "Resolve"),
    );
    typed.addEventListener("input", () => {
      form.querySelector(`#${id}-typed`).checked = true;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const side = form.elements.side.value;
      const body = side === "typed" ? { value: parseTyped(typed.value) } : { side };
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const reply = await api("POST", `/scenarios/${encodeURIComponent(scenario)}/conflicts/${encodeURIComponent(c.id)}/resolve`, body);
        announce(`Resolved ${c.left_field}/${c.right_field} of ${c.left_id} ↔ ${c.right_id} to ${fmtValue(reply.value)}`);
        await refresh();
      } catch (exc) {
        button.disabled = false;
        showError(form, exc);
      }
    });
    return el(
      "section",
      { class: "card conflict", "aria-labelledby": `${id}-title` },
      el("h3", { id: `${id}-title` }, `${c.entity || "item"} ${c.left_id} ↔ ${c.right_id}: ${c.left_field} / ${c.right_field}`),
      el("p", { class: "help" }, `Flagged ${fmtTime(c.at)}`, c.rule ? ` by rule ${c.rule}` : "", ". ",
        el("a", { href: `item.html?scenario=${encodeURIComponent(scenario)}&id=${encodeURIComponent(c.left_id)}&side=left` }, "Item history")),
      el(
        "table",
        {},
        el("caption", {}, "Values"),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Side"), el("th", { scope: "col" }, "Field"),
          el("th", { scope: "col" }, "Now"), el("th", { scope: "col" }, "Snapshot (last synced)"))),
        el("tbody", {},
          el("tr", {}, el("th", { scope: "row" }, "left"), el("td", {}, c.left_field), el("td", { class: "mono" }, fmtValue(c.left_value)), el("td", { class: "mono" }, fmtValue(c.base_left))),
          el("tr", {}, el("th", { scope: "row" }, "right"), el("td", {}, c.right_field), el("td", { class: "mono" }, fmtValue(c.right_value)), el("td", { class: "mono" }, fmtValue(c.base_right))),
        ),
      ),
      form,
    );
  }

  async function render() {
    const content = document.getElementById("content");
    const names = await scenarios();
    const chosen = param("scenario") && names.includes(param("scenario")) ? param("scenario") : names[0];
    const picker = el("select", { id: "scenario", name: "scenario" }, names.map((n) => el("option", { value: n, selected: n === chosen }, n)));
    const pick = el("form", { class: "card", method: "get" }, el("label", { for: "scenario" }, "Integration"), picker,
      el("button", { type: "submit" }, "Show"));
    const list = el("div", { id: "conflicts" });
    content.replaceChildren(pick, list);
    if (!chosen) {
      list.append(el("p", { class: "empty" }, "No integrations yet."));
      return;
    }
    const refresh = async () => {
      const data = await api("GET", `/scenarios/${encodeURIComponent(chosen)}/conflicts`);
      const items = data.items || [];
      list.replaceChildren(
        el("h2", {}, `Open conflicts of ${chosen} (${items.length})`),
        items.length ? el("div", {}, items.map((c) => conflictCard(chosen, c, refresh))) : el("p", { class: "empty" }, "No open conflicts."),
      );
    };
    await refresh();
  }

  Tandem.start(render);
})();
