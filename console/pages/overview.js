/* Overview: every integration with its directions, schedule, last runs, links, conflicts, failures,
   dead letters and throughput (GET /api/admin/overview). */
"use strict";

(() => {
  const { el, api, table, fmtTime, sparkline, announce } = Tandem;

  function figure(label, value, href) {
    const shown = href && value ? el("a", { href }, String(value)) : String(value);
    return el("li", {}, el("strong", {}, shown), label);
  }

  function integration(item) {
    const name = item.name;
    const q = encodeURIComponent(name);
    const directions = (item.directions || []).map((d) => [
      d.direction, d.enabled === false ? "off" : d.trigger || "—", d.schedule ? el("code", {}, d.schedule) : "—",
      d.hooks ? "yes" : "no", d.start ? fmtTime(d.start) : "—",
    ]);
    const runs = (item.last_runs || []).map((r) => [
      el("code", {}, r.run_id || "—"), r.direction || "—", fmtTime(r.started_at), fmtTime(r.finished_at),
      String(r.created ?? 0), String(r.updated ?? 0), String(r.unchanged ?? 0), String(r.failed ?? 0),
      String(r.conflicts ?? 0),
    ]);
    const headingId = `int-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    return el(
      "section",
      { class: "card integration", "aria-labelledby": headingId, "data-integration": name },
      el("h2", { id: headingId }, name, " ", el("span", { class: "badge" }, item.kind || "")),
      el(
        "ul",
        { class: "figures" },
        figure("items linked", item.links ?? 0, `item.html?scenario=${q}`),
        figure("open conflicts", item.open_conflicts ?? 0, `conflicts.html?scenario=${q}`),
        figure("failures", item.failures ?? 0, `failures.html?scenario=${q}`),
        figure("dead letters", item.dead_letters ?? 0, `failures.html?scenario=${q}`),
        el("li", {}, sparkline(item.throughput, `Throughput of ${name}`), "throughput, last 24 h"),
      ),
      item.left ? el("p", { class: "help" }, `left: ${item.left} · right: ${item.right}`) : null,
      table(`Directions of ${name}`, ["Direction", "Trigger", "Schedule", "Service hooks", "Start"], directions, "No directions."),
      table(
        `Last runs of ${name}`,
        ["Run", "Direction", "Started", "Finished", "Created", "Updated", "Unchanged", "Failed", "Conflicts"],
        runs,
        "No runs yet.",
      ),
    );
  }

  async function render() {
    const content = document.getElementById("content");
    const data = await api("GET", "/admin/overview");
    const items = data.integrations || [];
    content.replaceChildren(
      items.length
        ? el("div", {}, items.map(integration))
        : el("p", { class: "empty" }, "No integrations yet. ", el("a", { href: "wizard.html" }, "Set one up"), "."),
      el("button", { type: "button", class: "secondary", onclick: render }, "Refresh"),
    );
    announce(`${items.length} integration${items.length === 1 ? "" : "s"}, updated ${fmtTime(new Date().toISOString())}`);
  }

  Tandem.start(render);
})();
