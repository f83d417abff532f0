/* Failures and dead letters: reason, item, attempts; replay one or all
   (GET /api/scenarios/{s}/failures, GET /api/admin/deadletters, POST /api/admin/deadletters/replay). */
"use strict";

(() => {
  const { el, api, table, fmtTime, showError, announce, param } = Tandem;

  function itemLink(scenario, id, direction) {
    if (!id) return "—";
    const side = direction && direction.startsWith("right") ? "right" : "left";
    return el("a", { href: `item.html?scenario=${encodeURIComponent(scenario)}&id=${encodeURIComponent(id)}&side=${side}` }, id);
  }

  async function render() {
    const content = document.getElementById("content");
    const overview = await api("GET", "/admin/overview");
    const names = (overview.integrations || []).map((i) => i.name);
    const wanted = param("scenario");
    const chosen = wanted && names.includes(wanted) ? wanted : "";
    const picker = el("select", { id: "scenario", name: "scenario" },
      el("option", { value: "", selected: !chosen }, "All integrations"),
      names.map((n) => el("option", { value: n, selected: n === chosen }, n)));
    const pick = el("form", { class: "card", method: "get" }, el("label", { for: "scenario" }, "Integration"), picker,
      el("button", { type: "submit" }, "Show"));
    const deadSection = el("section", { "aria-labelledby": "dead-title" });
    const failSection = el("section", { "aria-labelledby": "fail-title" });
    content.replaceChildren(pick, deadSection, failSection);

    const refresh = async () => {
      const query = chosen ? `?scenario=${encodeURIComponent(chosen)}` : "";
      const dead = (await api("GET", `/admin/deadletters${query}`)).items || [];
      const form = el("form", { class: "card", id: "dead-letters" });
      const replay = async (body, what) => {
        try {
          const reply = await api("POST", "/admin/deadletters/replay", body);
          announce(`Replayed ${reply.replayed} ${what}`);
          await refresh();
        } catch (exc) {
          showError(form, exc);
        }
      };
      const rows = dead.map((d) => [
        d.scenario || "—", d.direction || "—", d.entity || "—", itemLink(d.scenario, d.source_id, d.direction),
        el("span", {}, d.reason || "—", d.description ? el("span", { class: "help" }, ` ${d.description}`) : null),
        String(d.attempts ?? "—"), fmtTime(d.dead_lettered_at),
        el("button", {
          type: "button", class: "secondary", "data-message": d.message_id,
          "aria-label": `Replay ${d.source_id || d.message_id}`,
          onclick: () => replay({ message_ids: [d.message_id] }, `dead letter ${d.source_id || d.message_id}`),
        }, "Replay"),
      ]);
      form.append(
        table("Dead-lettered messages", ["Integration", "Direction", "Entity", "Item", "Reason", "Attempts", "Dead-lettered", "Action"], rows, "No dead letters."),
        dead.length
          ? el("button", { type: "button", id: "replay-all", onclick: () => replay(chosen ? { all: true, scenario: chosen } : { all: true }, "dead letters") }, `Replay all ${dead.length}`)
          : null,
      );
      deadSection.replaceChildren(el("h2", { id: "dead-title" }, `Dead letters (${dead.length})`), form);

      const scenarios = chosen ? [chosen] : names;
      const failRows = [];
      for (const name of scenarios) {
        const failures = (await api("GET", `/scenarios/${encodeURIComponent(name)}/failures`)).items || [];
        for (const f of failures) {
          failRows.push([name, f.kind || "—", f.direction || "—", f.entity || "—", itemLink(name, f.source_id, f.direction),
            f.reason || "—", String(f.attempts ?? "—"), fmtTime(f.at)]);
        }
      }
      failSection.replaceChildren(
        el("h2", { id: "fail-title" }, `Failures (${failRows.length})`),
        el("p", { class: "help" }, "Items the engine is retrying or gave up on; the next poll retries them. Sync an item again from its history page."),
        table("Failures", ["Integration", "Kind", "Direction", "Entity", "Item", "Reason", "Attempts", "At"], failRows, "No failures."),
      );
    };
    await refresh();
  }

  Tandem.start(render);
})();
