/* Configuration history: the versions with their diffs, and a rollback
   (GET /api/config/history, POST /api/config/rollback/{version} with If-Match). */
"use strict";

(() => {
  const { el, request, fmtTime, fmtValue, showError, announce } = Tandem;

  function changeRow(change) {
    const old = change.op === "added" ? null : el("del", {}, fmtValue(change.old));
    const now = change.op === "removed" ? null : el("ins", {}, fmtValue(change.new));
    return el("tr", {},
      el("td", {}, el("code", {}, change.path)),
      el("td", {}, change.op),
      el("td", { class: "diff" }, old || "—"),
      el("td", { class: "diff" }, now || "—"));
  }

  async function render() {
    const content = document.getElementById("content");
    const reply = await request("GET", "/config/history?limit=50");
    const { current, versions } = reply.data;
    const etag = reply.headers.get("ETag") || `"${current}"`;
    const list = el("div", {});
    for (const v of versions || []) {
      const id = `v-${v.number}`;
      const form = el("form", { class: "rollback", "data-version": v.number });
      if (v.number !== current) {
        form.append(el("button", { type: "submit", "aria-describedby": `${id}-title` }, `Roll back to version ${v.number}`));
        form.addEventListener("submit", async (event) => {
          event.preventDefault();
          if (!window.confirm(`Restore version ${v.number} as a new version?`)) return;
          try {
            const saved = await request("POST", `/config/rollback/${v.number}`, undefined, { "If-Match": etag });
            announce(`Restored version ${v.number} as version ${saved.data.version}`);
            await render();
          } catch (exc) {
            showError(form, exc.status === 412 ? new Tandem.ApiError(412, `${exc.message} (the configuration changed since this page loaded: reload)`) : exc);
          }
        });
      }
      const changes = v.changes || [];
      list.append(el("section", { class: "card version", "aria-labelledby": `${id}-title` },
        el("h2", { id: `${id}-title` }, `Version ${v.number}`, v.number === current ? " (current)" : ""),
        el("p", { class: "help" }, `${fmtTime(v.at)} by ${v.author || "unknown"}${v.note ? ` — ${v.note}` : ""}`),
        changes.length
          ? el("table", {}, el("caption", {}, `Changes in version ${v.number}`),
            el("thead", {}, el("tr", {}, ["Path", "Change", "Before", "After"].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, changes.map(changeRow)))
          : el("p", { class: "empty" }, "No changes recorded."),
        form));
    }
    content.replaceChildren(
      el("p", {}, `Current version: ${current}`),
      (versions || []).length ? list : el("p", { class: "empty" }, "No configuration saved yet."),
    );
  }

  Tandem.start(render);
})();
