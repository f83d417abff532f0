/* Set-up wizard: instance → project pair → create fields → field map → schedule → dry run → first run.
   Every step saves through the configuration API (versioned: each write sends If-Match with the ETag
   last read, and a stale one is shown as the API words it); errors appear next to the field they name.
   A secret's value goes only to PUT /api/admin/secrets/{name} (the app's secret store) and is cleared
   from the page once stored; it is never kept, logged or shown. */
"use strict";

(() => {
  const { el, request, showError, clearErrors, announce, ApiError, fmtValue } = Tandem;

  const TYPES = {
    azure_devops: { label: "Azure DevOps (Services or Server)", entity: "workitem", kinds: ["pat", "entra", "basic"], urlHelp: "https://dev.azure.com/org or https://server/tfs/Collection" },
    pwa: { label: "Project Server / PWA", entity: "task", kinds: ["oauth_refresh_token", "user_password", "ntlm"], urlHelp: "https://contoso.sharepoint.com/sites/pwa or https://server/pwa" },
    planner: { label: "Microsoft Planner", entity: "task", kinds: ["oauth_refresh_token", "user_password"], urlHelp: "https://graph.microsoft.com/v1.0" },
  };
  const KINDS = {
    pat: "Personal access token (organisation-scoped)",
    entra: "Microsoft Entra managed identity / service principal",
    basic: "User name and password (basic)",
    oauth_refresh_token: "OAuth refresh token",
    user_password: "User name and password (token grant)",
    ntlm: "Windows account (NTLM)",
  };
  const SCHEDULES = [
    ["*/30 * * * * *", "every 30 seconds"],
    ["0 * * * * *", "every minute"],
    ["0 */5 * * * *", "every 5 minutes"],
    ["0 */15 * * * *", "every 15 minutes"],
    ["0 0 * * * *", "every hour"],
  ];
  const DIRECTIONS = [
    ["both", "both ways (read and write)"],
    ["left_to_right", "left → right only"],
    ["right_to_left", "right → left only"],
  ];
  const OUTCOMES = ["created", "updated", "unchanged", "skipped", "conflict", "failed"];
  const STEPS = [
    ["instances", "Instances", renderInstances],
    ["pair", "Project pair", renderPair],
    ["fields", "Create fields", renderFields],
    ["map", "Field map", renderMap],
    ["schedule", "Schedule", renderSchedule],
    ["dryrun", "Dry run", renderDryRun],
    ["run", "First run", renderRun],
  ];

  // What the wizard has saved so far (the API holds the truth; this is what the page shows and edits).
  const W = { step: 0, done: new Set(), etag: null, instances: [], integration: null, rules: null, proposal: null, resumed: false };

  // -- plumbing --------------------------------------------------------------------------------------------

  function etagOf(reply) {
    const tag = reply.headers.get("ETag");
    if (tag) W.etag = tag;
    return reply.data;
  }

  /* A configuration write: If-Match with the last ETag read; the new ETag kept. */
  async function save(method, path, body) {
    return etagOf(await request(method, path, body, { "If-Match": W.etag || "*" }));
  }

  async function load(path) {
    return etagOf(await request("GET", path));
  }

  /* An API error next to the control it names: `rename` turns the API's field path into a control name. */
  function fail(form, exc, rename) {
    let field = exc && exc.field;
    if (field && rename) field = rename(field);
    const status = exc instanceof ApiError ? exc.status : 0;
    return showError(form, new ApiError(status, exc.message || String(exc), field || null));
  }

  function stripPrefix(field, ...prefixes) {
    for (const prefix of prefixes) if (field.startsWith(prefix)) return field.slice(prefix.length);
    return field;
  }

  function field(label, control, help) {
    const id = control.id || `f-${control.getAttribute("name").replace(/[^A-Za-z0-9_-]/g, "_")}`;
    control.id = id;
    const nodes = [el("label", { for: id }, label), control];
    if (help) {
      const helpId = `${id}-help`;
      control.setAttribute("aria-describedby", helpId);
      nodes.push(el("p", { class: "help", id: helpId }, help));
    }
    return el("div", {}, nodes);
  }

  function select(name, options, value) {
    const node = el("select", { name });
    for (const [v, label] of options) node.append(el("option", { value: v, selected: v === value }, label));
    return node;
  }

  function busy(button, on) {
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  function scenarioPath() {
    return `/scenarios/${encodeURIComponent(W.integration.name)}`;
  }

  function integrationBody() {
    return JSON.parse(JSON.stringify(W.integration));
  }

  async function saveIntegration(form, body, rename) {
    try {
      await save("PUT", `/config/integrations/${encodeURIComponent(body.name)}`, body);
      W.integration = body;
      return true;
    } catch (exc) {
      fail(form, exc, (f) => rename(stripPrefix(f, `integrations.${body.name}.`)));
      return false;
    }
  }

  // -- frame -----------------------------------------------------------------------------------------------

  function stepList() {
    const list = el("ol", { class: "wizard-steps", "aria-label": "Set-up steps" });
    STEPS.forEach(([, title], index) => {
      const reachable = index === 0 || W.resumed || W.done.has(index - 1) || W.done.has(index);
      const button = el("button", { type: "button", class: W.done.has(index) ? "done" : null, disabled: !reachable }, title);
      if (index === W.step) button.setAttribute("aria-current", "step");
      button.addEventListener("click", () => go(index));
      list.append(el("li", {}, button));
    });
    return list;
  }

  async function go(index) {
    W.step = index;
    const content = document.getElementById("content");
    const [, title, render] = STEPS[index];
    const heading = el("h2", { id: "step-title", tabindex: "-1" }, `Step ${index + 1} of ${STEPS.length}: ${title}`);
    const section = el("section", { class: "step card", "aria-labelledby": "step-title" }, heading);
    content.replaceChildren(stepList(), section);
    announce(`Step ${index + 1}: ${title}`);
    await render(section);
    heading.focus();
  }

  function next(section, label, index) {
    const button = el("button", { type: "button", class: "next" }, label || `Next: ${STEPS[index][1]}`);
    button.addEventListener("click", () => go(index));
    section.append(el("div", { class: "actions" }, button));
    return button;
  }

  function complete(index) {
    W.done.add(index);
  }

  // -- step 1: instances -----------------------------------------------------------------------------------

  async function renderInstances(section) {
    W.instances = await load("/config/instances");
    const integrations = W.integration ? [] : await load("/config/integrations");
    if (integrations.length) section.append(resumeForm(integrations));
    section.append(
      el("p", { class: "help" }, "An instance is one system Tandem connects to. Add both sides: the credentials are checked on the spot and every missing permission is named. Secrets are stored in the app's secret store (Key Vault in Azure) under the name you give; the configuration holds the name only."),
      instanceTable(),
      instanceForm(section),
    );
    const button = next(section, null, 1);
    button.disabled = W.instances.length < 2;
    if (W.instances.length >= 2) complete(0);
  }

  /* Come back to an integration set up before: every step is open, starting with its fields. */
  function resumeForm(integrations) {
    const which = select("resume", integrations.map((i) => [i.name, i.name]), integrations[0].name);
    const form = el("form", { class: "resume", "aria-labelledby": "resume-title" },
      el("h3", { id: "resume-title" }, "Continue an integration"),
      field("Integration", which, "Change the fields, field map, schedule, or run it again."),
      el("button", { type: "submit", class: "secondary" }, "Continue"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = integrations.find((i) => i.name === which.value);
      W.integration = JSON.parse(JSON.stringify(chosen.integration));
      W.rules = null;
      W.resumed = true;
      await go(2);
    });
    return form;
  }

  function instanceTable() {
    const rows = W.instances.map((i) => [i.name, (TYPES[i.instance.type] || { label: i.instance.type }).label, el("code", {}, i.instance.url), i.instance.auth.secret || "—"]);
    return Tandem.table("Saved instances", ["Name", "System", "URL", "Secret name"], rows, "No instances yet: add the first below.");
  }

  function instanceForm(section) {
    const name = el("input", { name: "name", type: "text", required: true, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,62}" });
    const type = select("type", Object.entries(TYPES).map(([k, v]) => [k, v.label]), "azure_devops");
    const url = el("input", { name: "url", type: "url", required: true, autocomplete: "off" });
    const deployment = select("options.deployment", [["services", "Azure DevOps Services (cloud)"], ["server", "Azure DevOps Server (on premises)"]], "services");
    const kind = select("auth.kind", [], "");
    const username = el("input", { name: "auth.username", type: "text", autocomplete: "off" });
    const clientId = el("input", { name: "auth.client_id", type: "text", autocomplete: "off" });
    const tenant = el("input", { name: "auth.tenant", type: "text", autocomplete: "off" });
    const secret = el("input", { name: "auth.secret", type: "text", autocomplete: "off", pattern: "[0-9A-Za-z\\-]{1,127}" });
    const value = el("input", { name: "secret.value", type: "password", autocomplete: "new-password" });
    const options = el("textarea", { name: "options", rows: 3, spellcheck: "false" });
    const urlHelp = el("p", { class: "help", id: "f-url-help" });
    const touched = { secret: false, deployment: false };

    const deploymentRow = field("Deployment", deployment);
    const usernameRow = field("User name", username, "DOMAIN\\user or user@contoso.com");
    const clientRow = field("Client (application) id", clientId);
    const tenantRow = field("Tenant", tenant, "contoso.onmicrosoft.com or the tenant id");
    const secretRow = field("Secret name", secret, "Letters, digits and dashes (Key Vault's rule).");
    const valueRow = field("Secret value", value, "Optional: stored in the app's secret store under the name above, then cleared from this page. Leave empty when the secret is already there.");

    function refreshKinds() {
      const kinds = TYPES[type.value].kinds;
      const current = kind.value;
      kind.replaceChildren(...kinds.map((k) => el("option", { value: k, selected: k === current }, KINDS[k])));
      urlHelp.textContent = TYPES[type.value].urlHelp;
      deploymentRow.hidden = type.value !== "azure_devops";
      refreshAuth();
    }
    function refreshAuth() {
      const k = kind.value;
      usernameRow.hidden = !["basic", "user_password", "ntlm"].includes(k);
      clientRow.hidden = !["oauth_refresh_token", "user_password", "entra"].includes(k);
      tenantRow.hidden = !["oauth_refresh_token", "user_password"].includes(k);
      secretRow.hidden = valueRow.hidden = k === "entra";
      suggestSecret();
    }
    function suggestSecret() {
      if (touched.secret || !name.value) return;
      secret.value = `${name.value.replace(/[^0-9A-Za-z-]/g, "-")}-${kind.value === "pat" ? "pat" : "secret"}`;
    }
    type.addEventListener("change", refreshKinds);
    kind.addEventListener("change", refreshAuth);
    name.addEventListener("input", suggestSecret);
    secret.addEventListener("input", () => { touched.secret = true; });
    deployment.addEventListener("change", () => { touched.deployment = true; });
    url.addEventListener("input", () => {
      if (touched.deployment || type.value !== "azure_devops") return;
      deployment.value = /dev\.azure\.com|visualstudio\.com/i.test(url.value) ? "services" : "server";
    });

    const result = el("div", { class: "check-result", "aria-live": "polite" });
    const check = el("button", { type: "button", class: "secondary" }, "Check credentials");
    const submit = el("button", { type: "submit" }, "Save instance");
    const form = el(
      "form",
      { class: "instance-form", "aria-labelledby": "add-instance" },
      el("h3", { id: "add-instance" }, "Add an instance"),
      el("div", { class: "grid" },
        field("Name", name, "How integrations refer to it, e.g. ado-cloud."),
        field("System", type),
        el("div", {}, el("label", { for: "f-url" }, "URL"), Object.assign(url, { id: "f-url" }), urlHelp),
        deploymentRow,
        field("Sign-in", kind),
        usernameRow, clientRow, tenantRow, secretRow, valueRow,
      ),
      el("details", {}, el("summary", {}, "More options (JSON)"),
        field("Options", options, "Connection options as JSON, e.g. {\"time_zone\": \"Europe/Berlin\"} for PWA or {\"groups\": [\"…\"]} for Planner.")),
      el("div", { class: "actions" }, check, submit),
      result,
    );
    url.setAttribute("aria-describedby", "f-url-help");
    refreshKinds();

    function body() {
      let extra = {};
      if (options.value.trim()) {
        try {
          extra = JSON.parse(options.value);
        } catch (exc) {
          throw new ApiError(400, `not JSON: ${exc.message}`, "options");
        }
        if (typeof extra !== "object" || Array.isArray(extra) || extra === null) throw new ApiError(400, "the options are a JSON object", "options");
      }
      const auth = { kind: kind.value };
      if (!secretRow.hidden && secret.value.trim()) auth.secret = secret.value.trim();
      for (const [node, key, row] of [[username, "username", usernameRow], [clientId, "client_id", clientRow], [tenant, "tenant", tenantRow]]) {
        if (!row.hidden && node.value.trim()) auth[key] = node.value.trim();
      }
      const opts = { ...extra };
      if (type.value === "azure_devops") opts.deployment = deployment.value;
      return { type: type.value, url: url.value.trim(), auth, options: opts };
    }

    const rename = (f) => {
      const plain = stripPrefix(f, `instances.${name.value.trim()}.`, "instance.");
      if (plain === `instances.${name.value.trim()}`) return null;
      if (plain.startsWith("options.") && plain !== "options.deployment") return "options";
      return plain;
    };

    /* Store the typed secret (if any), then check: true when the instance may be saved. */
    async function storeAndCheck(instance) {
      clearErrors(form);
      result.replaceChildren();
      if (!valueRow.hidden && value.value) {
        if (!instance.auth.secret) throw new ApiError(400, "name the secret the value is stored under", "auth.secret");
        try {
          await request("PUT", `/admin/secrets/${encodeURIComponent(instance.auth.secret)}`, { value: value.value, instance });
        } catch (exc) {
          throw new ApiError(exc.status, exc.message, exc.field === "value" ? "secret.value" : exc.field === "name" ? "auth.secret" : exc.field);
        }
        value.value = "";
        announce(`Secret ${instance.auth.secret} stored`);
      }
      const reply = await request("POST", "/admin/instances/check", { name: name.value.trim(), instance });
      const report = reply.data;
      if (!report.ok) {
        const first = report.problems[0];
        fail(form, new ApiError(422, first.message, first.field), rename);
        if (report.problems.length > 1) {
          result.append(el("ul", { class: "problems", "aria-label": "Problems found" }, report.problems.map((p) => el("li", {}, p.message))));
        }
        return false;
      }
      const names = report.containers.map((c) => c.name);
      result.append(el("p", { class: "found" }, `Credentials work. ${names.length} project(s) or plan(s) visible${names.length ? `: ${names.slice(0, 8).join(", ")}${names.length > 8 ? ", …" : ""}` : ""}.`));
      return true;
    }

    check.addEventListener("click", async () => {
      busy(check, true);
      try {
        await storeAndCheck(body());
      } catch (exc) {
        fail(form, exc, rename);
      } finally {
        busy(check, false);
      }
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      busy(submit, true);
      try {
        const instance = body();
        if (!(await storeAndCheck(instance))) return;
        const saved = name.value.trim();
        await save("PUT", `/config/instances/${encodeURIComponent(saved)}`, instance);
        announce(`Instance ${saved} saved`);
        await go(0);
      } catch (exc) {
        fail(form, exc, rename);
      } finally {
        busy(submit, false);
      }
    });
    return form;
  }

  // -- step 2: project pair --------------------------------------------------------------------------------

  async function renderPair(section) {
    W.instances = await load("/config/instances");
    const names = W.instances.map((i) => [i.name, i.name]);
    const current = W.integration;
    const left = select("left", names, current ? current.left : names[0] && names[0][0]);
    const right = select("right", names, current ? current.right : names[1] && names[1][0]);
    const leftProject = el("select", { name: "containers.0.left" });
    const rightProject = el("select", { name: "containers.0.right" });
    const name = el("input", { name: "name", type: "text", required: true, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]{0,62}" });
    const types = el("input", { name: "types", type: "text", autocomplete: "off" });
    const conflict = select("conflict", [["newest_wins", "the newest change wins"], ["flag", "flag it for a person"], ["left_wins", "left wins"], ["right_wins", "right wins"]], current ? current.conflict : "newest_wins");
    let nameTouched = Boolean(current);
    if (current) {
      name.value = current.name;
      name.readOnly = true;
      types.value = (current.types || []).join(", ");
    }
    name.addEventListener("input", () => { nameTouched = true; });

    async function projects(instance, target, chosen) {
      target.replaceChildren(el("option", { value: "" }, "loading…"));
      try {
        const reply = await request("GET", `/admin/instances/${encodeURIComponent(instance)}/containers`);
        target.replaceChildren(...reply.data.containers.map((c) => el("option", { value: c.id, selected: c.id === chosen }, c.name)));
      } catch (exc) {
        target.replaceChildren();
        fail(form, new ApiError(exc.status, exc.message, target.name));
      }
    }
    function suggestName() {
      if (!nameTouched) name.value = `${left.value}-${right.value}`.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 63);
    }
    const pair = current && current.containers && current.containers[0];
    left.addEventListener("change", () => { suggestName(); projects(left.value, leftProject); });
    right.addEventListener("change", () => { suggestName(); projects(right.value, rightProject); });

    const submit = el("button", { type: "submit" }, "Save project pair");
    const form = el(
      "form",
      { "aria-labelledby": "step-title" },
      el("p", { class: "help" }, "Pair a project (or plan) of one instance with one of the other. The integration is saved now, with nothing scheduled: it syncs only when you start it in the last step."),
      el("div", { class: "grid" },
        field("Left instance", left), field("Left project", leftProject),
        field("Right instance", right), field("Right project", rightProject),
        field("Integration name", name, "Letters, digits, _ and -."),
        field("Item types", types, "Comma-separated, e.g. User Story, Bug, Task; empty: every type."),
        field("When both sides changed a field", conflict),
      ),
      el("div", { class: "actions" }, submit),
    );
    section.append(form);
    suggestName();
    await Promise.all([projects(left.value, leftProject, pair && pair.left), projects(right.value, rightProject, pair && pair.right)]);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (left.value === right.value) {
        fail(form, new ApiError(400, "choose two different instances", "right"));
        return;
      }
      busy(submit, true);
      try {
        const types_ = types.value.split(",").map((t) => t.trim()).filter(Boolean);
        const typeOf = (n) => (W.instances.find((i) => i.name === n) || { instance: {} }).instance.type;
        const [lt, rt] = [typeOf(left.value), typeOf(right.value)];
        const integration = current ? integrationBody() : {
          name: name.value.trim(),
          field_map: name.value.trim(),
          directions: {
            left_to_right: { schedule: "0 */5 * * * *", trigger: "manual" },
            right_to_left: { schedule: "0 */5 * * * *", trigger: "manual" },
          },
        };
        Object.assign(integration, {
          kind: kindOf(lt, rt),
          left: left.value,
          right: right.value,
          left_entity: (TYPES[lt] || {}).entity || "workitem",
          right_entity: (TYPES[rt] || {}).entity || "workitem",
          containers: [{ left: leftProject.value, right: rightProject.value }],
          types: types_,
          conflict: conflict.value,
        });
        if (!current) {
          const maps = await load("/config/field-maps");
          if (!maps.some((m) => m.name === integration.field_map)) {
            await save("PUT", `/config/field-maps/${encodeURIComponent(integration.field_map)}`, []);
          }
        }
        const renamed = (f) => (f === "containers" ? "containers.0.left" : f);
        if (await saveIntegration(form, integration, renamed)) {
          complete(1);
          announce(`Integration ${integration.name} saved`);
          await go(2);
        }
      } catch (exc) {
        fail(form, exc, (f) => stripPrefix(f, `integrations.${name.value.trim()}.`, `field_maps.${name.value.trim()}`));
      } finally {
        busy(submit, false);
      }
    });
  }

  function kindOf(left, right) {
    const pair = [left, right].sort().join("+");
    return { "azure_devops+azure_devops": "ado_ado", "azure_devops+pwa": "pwa_ado", "planner+pwa": "pwa_planner" }[pair] || "generic";
  }

  // -- step 3: create fields -------------------------------------------------------------------------------

  async function renderFields(section) {
    const integration = W.integration;
    const required = integration.required_fields || {};
    const rows = [];
    for (const side of ["left", "right"]) for (const spec of required[side] || []) rows.push([side === "left" ? integration.left : integration.right, spec.name, spec.type || "string"]);
    const sideSel = select("side", [["left", `left: ${integration.left}`], ["right", `right: ${integration.right}`]], "right");
    const fname = el("input", { name: "field.name", type: "text", autocomplete: "off" });
    const ftype = select("field.type", ["string", "text", "html", "integer", "double", "boolean", "datetime"].map((t) => [t, t]), "string");
    const add = el("button", { type: "button", class: "secondary" }, "Add field");
    const create = el("button", { type: "submit" }, "Create fields on both systems");
    const report = el("div", { "aria-live": "polite" });
    const form = el(
      "form",
      { "aria-labelledby": "step-title" },
      el("p", { class: "help" }, "Custom fields the field map needs are created on each system that can (Azure DevOps: on the work item types of the projects' inherited process; PWA: enterprise custom fields). Systems that already have every field are left as they are."),
      Tandem.table("Fields this integration needs", ["Instance", "Field", "Type"], rows, "This integration needs no custom fields so far."),
      el("fieldset", {}, el("legend", {}, "Add a custom field"),
        el("div", { class: "grid" }, field("On", sideSel), field("Field name", fname), field("Type", ftype)),
        add),
      el("div", { class: "actions" }, create),
      report,
    );
    section.append(form);

    add.addEventListener("click", async () => {
      clearErrors(form);
      if (!fname.value.trim()) {
        fail(form, new ApiError(400, "name the field to add", "field.name"));
        return;
      }
      const body = integrationBody();
      const side = sideSel.value;
      const instance = W.instances.find((i) => i.name === body[side]);
      const spec = { name: fname.value.trim(), type: ftype.value };
      if (instance && instance.instance.type === "pwa") spec.entity = "task";
      body.required_fields = { ...(body.required_fields || {}), [side]: [...((body.required_fields || {})[side] || []), spec] };
      busy(add, true);
      if (await saveIntegration(form, body, (f) => (f.startsWith("required_fields") ? "field.name" : f))) await go(2);
      busy(add, false);
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      busy(create, true);
      try {
        const reply = await request("POST", `${scenarioPath()}/setup/fields`);
        const sides = reply.data.sides;
        const problems = sides.flatMap((s) => s.problems.map((p) => `${s.connection}: ${p}`));
        report.replaceChildren(
          Tandem.table("Created fields", ["Instance", "Created", "Already there", "Problems"], sides.map((s) => [
            s.connection, s.created.join(", ") || "—", s.existing.join(", ") || "—", s.problems.join("; ") || "none",
          ])),
          problems.length
            ? el("ul", { class: "problems", role: "alert" }, problems.map((p) => el("li", {}, p)))
            : el("p", { class: "found" }, sides.some((s) => s.created.length) ? "Fields created on both systems." : "Both systems have every field this integration needs."),
        );
        if (!problems.length) {
          complete(2);
          next(section, null, 3).focus();
        }
      } catch (exc) {
        fail(form, exc);
      } finally {
        busy(create, false);
      }
    });
  }

  // -- step 4: field map -----------------------------------------------------------------------------------

  async function renderMap(section) {
    const integration = W.integration;
    const map = await load(`/config/field-maps/${encodeURIComponent(integration.field_map)}`);
    W.rules = W.rules || map.rules.map((r) => ({ ...r, keep: true, reason: "saved" }));
    const tbody = el("tbody");
    const datalists = el("div");
    const propose = el("button", { type: "button", class: "secondary" }, "Propose rules (auto-map)");
    const addRule = el("button", { type: "button", class: "secondary" }, "Add a rule");
    const submit = el("button", { type: "submit" }, "Save field map");
    const count = el("p", { class: "help", "aria-live": "polite" });
    const form = el(
      "form",
      { "aria-labelledby": "step-title" },
      el("p", { class: "help" }, `Which field of ${integration.left} goes to which field of ${integration.right}, and which way. Auto-map proposes fields with the same name and compatible types; keep, remove or add rules, then save.`),
      el("div", { class: "actions" }, propose, addRule),
      count,
      el("div", { class: "rules-scroll" },
        el("table", { class: "rules" },
          el("caption", {}, `Field map ${integration.field_map}`),
          el("thead", {}, el("tr", {}, ["Keep", `Left field (${integration.left})`, `Right field (${integration.right})`, "Direction", "Transform", "Why"].map((h) => el("th", { scope: "col" }, h)))),
          tbody)),
      datalists,
      el("div", { class: "actions" }, submit),
    );
    section.append(form);

    function draw() {
      tbody.replaceChildren(...W.rules.map((rule, i) => {
        const keep = el("input", { type: "checkbox", name: `rules.${i}.keep`, checked: rule.keep, "aria-label": `Keep rule ${rule.left || "new"} → ${rule.right || "new"}` });
        keep.addEventListener("change", () => { rule.keep = keep.checked; counts(); });
        const left = el("input", { type: "text", name: `rules.${i}.left`, value: rule.left || "", list: "left-fields", "aria-label": `Left field of rule ${i + 1}` });
        const right = el("input", { type: "text", name: `rules.${i}.right`, value: rule.right || "", list: "right-fields", "aria-label": `Right field of rule ${i + 1}` });
        left.addEventListener("input", () => { rule.left = left.value.trim(); });
        right.addEventListener("input", () => { rule.right = right.value.trim(); });
        const direction = select(`rules.${i}.direction`, DIRECTIONS, rule.direction || "both");
        direction.setAttribute("aria-label", `Direction of rule ${i + 1}`);
        direction.addEventListener("change", () => { rule.direction = direction.value; });
        const transform = rule.transform ? rule.transform.kind || Object.keys(rule.transform)[0] : "—";
        return el("tr", {}, el("td", { class: "keep" }, keep), el("td", {}, left), el("td", {}, right), el("td", {}, direction),
          el("td", { "data-name": `rules.${i}.transform` }, transform || "—"), el("td", { class: "reason" }, rule.reason || ""));
      }));
      counts();
    }
    function counts() {
      const kept = W.rules.filter((r) => r.keep).length;
      count.textContent = `${kept} of ${W.rules.length} rules kept.`;
    }
    function lists(proposal) {
      datalists.replaceChildren(
        el("datalist", { id: "left-fields" }, (proposal.unmatched_left || []).map((f) => el("option", { value: f }))),
        el("datalist", { id: "right-fields" }, (proposal.unmatched_right || []).map((f) => el("option", { value: f }))),
      );
    }
    draw();

    propose.addEventListener("click", async () => {
      clearErrors(form);
      busy(propose, true);
      try {
        const proposal = (await request("POST", "/config/mappings/auto", {
          left: integration.left, left_entity: integration.left_entity || "workitem",
          right: integration.right, right_entity: integration.right_entity || "workitem",
        })).data;
        W.proposal = proposal;
        const seen = new Set(W.rules.map((r) => `${r.left}|${r.right}`));
        for (const r of proposal.rules) {
          if (!seen.has(`${r.left}|${r.right}`)) W.rules.push({ left: r.left, right: r.right, direction: r.direction, transform: r.transform || undefined, reason: r.reason, keep: true });
        }
        lists(proposal);
        draw();
        announce(`Auto-map proposed ${proposal.rules.length} rules`);
      } catch (exc) {
        fail(form, exc);
      } finally {
        busy(propose, false);
      }
    });

    addRule.addEventListener("click", () => {
      W.rules.push({ left: "", right: "", direction: "both", keep: true, reason: "added by hand" });
      draw();
      form.querySelector(`[name="rules.${W.rules.length - 1}.left"]`).focus();
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const kept = W.rules.map((r, i) => [r, i]).filter(([r]) => r.keep);
      if (!kept.length) {
        fail(form, new ApiError(400, "keep at least one rule (or propose some with auto-map)", null));
        return;
      }
      const body = kept.map(([r]) => {
        const rule = { left: r.left, right: r.right, direction: r.direction || "both" };
        if (r.transform) rule.transform = r.transform;
        return rule;
      });
      const prefix = `field_maps.${integration.field_map}.`;
      const rename = (f) => {
        const rest = stripPrefix(f, prefix);
        const match = /^(\d+)(?:\.(\w+))?/.exec(rest);
        if (!match || !kept[Number(match[1])]) return null;
        const attr = ["left", "right", "direction"].includes(match[2]) ? match[2] : "left";
        return `rules.${kept[Number(match[1])][1]}.${attr}`;
      };
      busy(submit, true);
      try {
        await save("PUT", `/config/field-maps/${encodeURIComponent(integration.field_map)}`, body);
        complete(3);
        announce(`Field map saved with ${body.length} rules`);
        await go(4);
      } catch (exc) {
        fail(form, exc, rename);
      } finally {
        busy(submit, false);
      }
    });
  }

  // -- step 5: schedule and start date ---------------------------------------------------------------------

  async function renderSchedule(section) {
    const integration = W.integration;
    const d = integration.directions;
    const enabled = ["left_to_right", "right_to_left"].filter((k) => d[k] && d[k].enabled !== false);
    const first = d[enabled[0] || "left_to_right"];
    const schedule = select("schedule", SCHEDULES.map(([cron, label]) => [cron, `${label} (${cron})`]), first.schedule || "0 */5 * * * *");
    const which = select("directions", DIRECTIONS, enabled.length === 2 ? "both" : enabled[0]);
    const start = el("input", { name: "start", type: "date", required: true });
    const past = new Date(Date.now() - 30 * 24 * 3600 * 1000);
    start.value = (first.start || past.toISOString()).slice(0, 10);
    const submit = el("button", { type: "submit" }, "Save schedule");
    W.instances = await load("/config/instances");
    const hookable = hookSides(integration);
    const hooks = el("input", { type: "checkbox", name: "hooks", id: "f-hooks", checked: Object.values(d).some((x) => x && x.hooks), "aria-describedby": "f-hooks-help" });
    const form = el(
      "form",
      { "aria-labelledby": "step-title" },
      el("p", { class: "help" }, "How often each direction polls for changes, and from when: items last changed before the start date are left alone. The schedule takes effect when you start the integration in the last step."),
      el("div", { class: "grid" },
        field("Directions", which),
        field("Poll", schedule, "Six-field NCRONTAB, seconds first."),
        field("Start date (UTC)", start, "Items changed before this day are not synced."),
      ),
      hookable.length ? el("div", { class: "choice" }, hooks, el("label", { for: "f-hooks" }, "Near-real-time: Azure DevOps service hooks"),
        el("p", { class: "help", id: "f-hooks-help" }, "Azure DevOps tells the app of each change at once (the app must be reachable at its URL); polls still catch anything a hook missed. Each Azure DevOps instance gets its own random hook secret, made and kept by the app.")) : null,
      el("div", { class: "actions" }, submit),
    );
    section.append(form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      if (!start.value) {
        fail(form, new ApiError(400, "choose a start date", "start"));
        return;
      }
      const body = integrationBody();
      const chosen = which.value === "both" ? ["left_to_right", "right_to_left"] : [which.value];
      busy(submit, true);
      const wanted = hookable.length > 0 && hooks.checked;
      if (wanted) {
        try {
          await hookSecrets(integration);
        } catch (exc) {
          fail(form, exc, () => "hooks");
          busy(submit, false);
          return;
        }
      }
      for (const k of ["left_to_right", "right_to_left"]) {
        const source = k === "left_to_right" ? "left" : "right";
        body.directions[k] = {
          ...(body.directions[k] || {}), schedule: schedule.value, start: `${start.value}T00:00:00Z`,
          enabled: chosen.includes(k), trigger: "manual", hooks: wanted && hookable.includes(source),
        };
      }
      const rename = (f) => (/\.schedule$/.test(f) ? "schedule" : /\.start$/.test(f) ? "start" : f.startsWith("directions") ? "directions" : f);
      if (await saveIntegration(form, body, rename)) {
        complete(4);
        announce("Schedule saved");
        await go(5);
      }
      busy(submit, false);
    });
  }

  /* The sides whose instance can push changes (Azure DevOps service hooks). */
  function hookSides(integration) {
    const typeOf = (n) => (W.instances.find((i) => i.name === n) || { instance: {} }).instance.type;
    return ["left", "right"].filter((side) => typeOf(integration[side]) === "azure_devops");
  }

  /* Each Azure DevOps instance without a hook secret gets one the app makes (never seen by the page). */
  async function hookSecrets(integration) {
    for (const side of hookSides(integration)) {
      const saved = W.instances.find((i) => i.name === integration[side]);
      if (saved.instance.hook_secret) continue;
      const secret = `${saved.name.replace(/[^0-9A-Za-z-]/g, "-")}-hook`.slice(0, 127);
      await request("POST", `/admin/secrets/${encodeURIComponent(secret)}/generate`, { instance: saved.instance });
      const instance = { ...saved.instance, hook_secret: secret };
      await save("PUT", `/config/instances/${encodeURIComponent(saved.name)}`, instance);
      saved.instance = instance;
    }
  }

  // -- step 6: dry run -------------------------------------------------------------------------------------

  async function renderDryRun(section) {
    const run = el("button", { type: "button" }, "Run a dry run");
    const out = el("div", { "aria-live": "polite" });
    const form = el("form", { "aria-labelledby": "step-title" },
      el("p", { class: "help" }, "What the first run would write, field by field, read from both systems now. Nothing is written anywhere."),
      el("div", { class: "actions" }, run), out);
    section.append(form);
    run.addEventListener("click", async () => {
      clearErrors(form);
      busy(run, true);
      try {
        const plans = (await request("POST", `${scenarioPath()}/run`, { dry_run: true })).data.plans;
        const tally = {};
        for (const p of plans) tally[p.action] = (tally[p.action] || 0) + 1;
        const summary = Object.entries(tally).map(([a, n]) => `${n} ${a}`).join(", ") || "nothing to do";
        const shown = plans.slice(0, 100);
        out.replaceChildren(
          el("p", { class: "dry-summary" }, `${plans.length} item(s): ${summary}.`),
          Tandem.table("Per-field changes the first run would make", ["Direction", "Item", "Action", "Changes"], shown.map((p) => [
            p.direction === "left_to_right" ? `${W.integration.left} → ${W.integration.right}` : `${W.integration.right} → ${W.integration.left}`,
            `${p.source_id}${p.target_id ? ` → ${p.target_id}` : ""}`,
            p.reason ? `${p.action}: ${p.reason}` : p.action,
            el("div", { class: "diff-cell" }, p.changes.map((c) => el("span", { class: "change" },
              el("strong", {}, c.field), ": ", el("del", {}, fmtValue(c.before)), " → ", el("ins", {}, fmtValue(c.after))))),
          ]), "Nothing to sync: no item in scope has changed since the start date."),
          ...(plans.length > shown.length ? [el("p", { class: "help" }, `…and ${plans.length - shown.length} more.`)] : []),
        );
        complete(5);
        next(section, null, 6).focus();
      } catch (exc) {
        fail(form, exc);
      } finally {
        busy(run, false);
      }
    });
  }

  // -- step 7: first run -----------------------------------------------------------------------------------

  async function renderRun(section) {
    const start = el("button", { type: "button" }, "Start synchronization");
    const progress = el("progress", { max: 1, value: 0, "aria-label": "First run progress" });
    const out = el("div", { class: "run-progress", "aria-live": "polite" });
    const form = el("form", { "aria-labelledby": "step-title" },
      el("p", { class: "help" }, "Turns the schedule on and runs every enabled direction now. Progress below is read from the run's counters."),
      el("div", { class: "actions" }, start), out);
    section.append(form);
    start.addEventListener("click", async () => {
      clearErrors(form);
      busy(start, true);
      try {
        const before = new Set(((await request("GET", `${scenarioPath()}/status`)).data.runs || []).map((r) => r.run_id));
        const body = integrationBody();
        for (const d of Object.values(body.directions)) d.trigger = "automatic";
        if (!(await saveIntegration(form, body, (f) => f))) {
          busy(start, false);
          return;
        }
        await request("POST", `${scenarioPath()}/run`, {});
        out.replaceChildren(progress);
        if (Object.values(body.directions).some((d) => d.enabled !== false && d.hooks)) out.append(await ensureHooks());
        await watch(before, out, progress);
        complete(6);
      } catch (exc) {
        fail(form, exc);
        busy(start, false);
      }
    });
  }

  /* Create (or repair) the service hook subscriptions; what happened, or why not, as a line. */
  async function ensureHooks() {
    try {
      const checks = (await request("POST", `${scenarioPath()}/hooks`)).data.checks;
      const problems = checks.flatMap((c) => c.problems.map((p) => `${c.connection}: ${p}`));
      if (problems.length) return el("ul", { class: "problems", role: "alert" }, problems.map((p) => el("li", {}, `Service hooks: ${p}`)));
      const made = checks.reduce((n, c) => n + c.created.length + c.repaired.length + c.repointed.length, 0);
      return el("p", { class: "found hooks-line" }, `Service hooks in place on ${checks.map((c) => c.connection).join(" and ")} (${made} subscription(s) created or repaired).`);
    } catch (exc) {
      return el("p", { class: "form-error", role: "alert" }, `Service hooks not created: ${exc.message}`);
    }
  }

  async function watch(before, out, progress) {
    const table = el("div");
    const line = el("p", { class: "run-line" });
    out.append(line, table);
    const deadline = Date.now() + 15 * 60 * 1000;
    for (;;) {
      const status = (await request("GET", `${scenarioPath()}/status`)).data;
      const runs = (status.runs || []).filter((r) => !before.has(r.run_id));
      const total = { enqueued: 0, settled: 0 };
      const sums = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
      for (const r of runs) {
        total.enqueued += r.counts.enqueued || 0;
        for (const o of OUTCOMES) {
          sums[o] += r.counts[o] || 0;
          total.settled += r.counts[o] || 0;
        }
      }
      progress.max = Math.max(1, total.enqueued);
      progress.value = Math.min(total.settled, progress.max);
      table.replaceChildren(Tandem.table("Runs of the first synchronization", ["Direction", "Status", "Changes", "Enqueued", ...OUTCOMES.map((o) => o[0].toUpperCase() + o.slice(1))],
        runs.map((r) => [r.direction.replace(/_/g, " "), r.status, r.counts.changes || 0, r.counts.enqueued || 0, ...OUTCOMES.map((o) => r.counts[o] || 0)]), "Starting…"));
      const polled = runs.length > 0 && runs.every((r) => r.status !== "running");
      const finished = polled && total.settled >= total.enqueued;
      line.textContent = `${total.settled} of ${total.enqueued} item(s) done: ${OUTCOMES.map((o) => `${sums[o]} ${o}`).join(", ")}.`;
      if (finished || runs.some((r) => r.status === "failed")) {
        const failures = status.failures || [];
        const ok = !runs.some((r) => r.status === "failed") && sums.failed === 0;
        out.append(
          el("p", { class: ok ? "result-ok" : "form-error", role: "status" }, ok
            ? `First synchronization done: ${sums.created} created, ${sums.updated} updated, ${sums.unchanged} unchanged. The integration now runs on its schedule.`
            : `First synchronization finished with problems: ${sums.failed} failed. See Failures and dead letters.`),
          ...(failures.length ? [el("ul", { class: "problems" }, failures.slice(0, 10).map((f) => el("li", {}, `${f.source_id}: ${f.reason}`)))] : []),
          el("p", {}, el("a", { href: "index.html" }, "Go to the overview")),
        );
        announce(ok ? "First synchronization done" : "First synchronization finished with problems");
        return;
      }
      if (Date.now() > deadline) {
        out.append(el("p", { class: "form-error", role: "alert" }, "The first run is still going after 15 minutes; follow it on the overview."));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  Tandem.start(() => go(0));
})();
