/* Tandem admin console: what every page shares. Sign-in, the admin API wrapper, errors next to the
   control they name, the nav bar, small DOM and accessibility helpers. No build step, no framework. */
"use strict";

const Tandem = (() => {
  const KEY = "tandem.functionKey";
  const USER = "tandem.user";
  // The console is served at <origin>/api/console/...; the admin API lives beside it under /api.
  const API_BASE = location.pathname.replace(/\/console(\/.*)?$/, "");
  const PAGES = [
    ["index.html", "Overview"],
    ["wizard.html", "Set-up wizard"],
    ["conflicts.html", "Conflicts"],
    ["failures.html", "Failures and dead letters"],
    ["item.html", "Item history"],
    ["history.html", "Configuration history"],
  ];

  class ApiError extends Error {
    constructor(status, message, field) {
      super(message);
      this.status = status;
      this.field = field || null;
    }
  }

  /* el("p", {class: "x", onclick: f}, "text", child...): a DOM element; text is never parsed as HTML. */
  function el(tag, attrs, ...children) {
    const svg = ["svg", "polyline", "rect", "line", "title", "circle", "path"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function key() {
    return sessionStorage.getItem(KEY);
  }

  /* The full answer of an admin API call: {status, data, headers}. Throws ApiError on 4xx/5xx. */
  async function request(method, path, body, headers) {
    const sent = { Accept: "application/json", ...(headers || {}) };
    if (key()) sent["x-functions-key"] = key();
    if (body !== undefined) sent["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(API_BASE + path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (exc) {
      throw new ApiError(0, `the admin API did not answer (${exc.message})`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (exc) {
      data = { error: text };
    }
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith("/console/")) {
        sessionStorage.removeItem(KEY);
        throw new ApiError(401, "the admin API refused the key: sign in again", "key");
      }
      let message = data && (data.error || data.detail);
      if (typeof message !== "string") message = message ? JSON.stringify(message) : `HTTP ${response.status}`;
      throw new ApiError(response.status, message, data && data.field);
    }
    return { status: response.status, data, headers: response.headers };
  }

  /* api(method, path, body): the JSON answer of an admin API call (path under /api, e.g. "/admin/overview"). */
  async function api(method, path, body) {
    return (await request(method, path, body)).data;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error, .form-error").forEach((node) => node.remove());
    form.querySelectorAll("[aria-invalid]").forEach((node) => {
      node.removeAttribute("aria-invalid");
      const described = (node.getAttribute("aria-describedby") || "").split(" ").filter((id) => !id.startsWith("err-"));
      if (described.length) node.setAttribute("aria-describedby", described.join(" "));
      else node.removeAttribute("aria-describedby");
    });
  }

  /* An API error shown next to the form control whose name is the error's `field`, else atop the form. */
  function showError(form, error) {
    clearErrors(form);
    const message = error instanceof Error ? error.message : String(error);
    const field = error && error.field;
    const control = field ? form.querySelector(`[name="${CSS.escape(field)}"]`) : null;
    if (control) {
      const id = `err-${field.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      const note = el("p", { class: "field-error", id, role: "alert" }, message);
      control.insertAdjacentElement("afterend", note);
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") || ""} ${id}`.trim());
      control.focus();
      return note;
    }
    const note = el("p", { class: "form-error", role: "alert" }, message);
    form.prepend(note);
    return note;
  }

  /* Polite announcements for screen readers, and the page's status line. */
  function announce(message) {
    const status = document.getElementById("status");
    if (status) status.textContent = message;
  }

  function nav() {
    const holder = document.getElementById("nav");
    if (!holder || holder.childElementCount) return;
    const here = location.pathname.split("/").pop() || "index.html";
    const list = el("ul");
    for (const [href, label] of PAGES) {
      const link = el("a", { href }, label);
      if (href === here) link.setAttribute("aria-current", "page");
      list.append(el("li", {}, link));
    }
    holder.append(list);
  }

  function who() {
    const holder = document.getElementById("who");
    if (!holder) return;
    holder.replaceChildren();
    if (!key()) return;
    const user = sessionStorage.getItem(USER);
    if (user) holder.append(el("span", { class: "user" }, user));
    holder.append(
      el("button", { type: "button", class: "link", onclick: signOut }, "Sign out"),
    );
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(USER);
    location.reload();
  }

  /* Behind Microsoft Entra sign-in the function app hands a signed-in administrator the console's key. */
  async function entraSession() {
    try {
      const reply = await request("GET", "/console/session");
      if (reply.data && reply.data.key) {
        sessionStorage.setItem(KEY, reply.data.key);
        if (reply.data.user) sessionStorage.setItem(USER, reply.data.user);
        return true;
      }
    } catch (exc) {
      if (exc.status === 403) return exc.message; // signed in, but not an administrator: say so
    }
    return false;
  }

  function signInForm(main, onSignedIn, notice) {
    const input = el("input", {
      id: "function-key", name: "key", type: "password", autocomplete: "current-password", required: true,
      "aria-describedby": "function-key-help",
    });
    const form = el(
      "form",
      { class: "card sign-in", "aria-labelledby": "sign-in-title" },
      el("h2", { id: "sign-in-title" }, "Sign in"),
      notice ? el("p", { class: "form-error", role: "alert" }, notice) : null,
      el("label", { for: "function-key" }, "Function key"),
      input,
      el(
        "p",
        { id: "function-key-help", class: "help" },
        "Locally: the functions_key that `tandem serve` prints. In Azure: a function key of the app (Azure portal → the function app → App keys).",
      ),
      el("button", { type: "submit" }, "Sign in"),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, input.value.trim());
      try {
        await request("GET", "/openapi.json");
      } catch (exc) {
        sessionStorage.removeItem(KEY);
        showError(form, exc.status === 401 ? new ApiError(401, "this key was refused by the admin API", "key") : exc);
        return;
      }
      form.remove();
      who();
      onSignedIn();
    });
    main.append(form);
    input.focus();
  }

  /* start(render): build the frame, make sure we are signed in, then render the page. */
  function start(render) {
    const go = async () => {
      nav();
      const main = document.getElementById("content") || document.getElementById("main");
      let notice = null;
      if (!key()) {
        const entra = await entraSession();
        if (typeof entra === "string") notice = entra;
      }
      who();
      const run = async () => {
        delete document.body.dataset.ready;
        try {
          await render();
          document.body.dataset.ready = "true"; // the page has rendered its data (tests and scripts wait on it)
        } catch (exc) {
          if (exc instanceof ApiError && exc.status === 401) {
            main.replaceChildren();
            signInForm(main, run, exc.message);
            return;
          }
          announce(`Error: ${exc.message}`);
          main.prepend(el("p", { class: "form-error", role: "alert" }, exc.message));
          document.body.dataset.ready = "error";
        }
      };
      if (key()) await run();
      else signInForm(main, run, notice);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
    else go();
  }

  function fmtTime(iso) {
    if (!iso) return "—";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return date.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function fmtValue(value) {
    if (value === undefined) return "—";
    if (value === null) return "(empty)";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  /* A throughput sparkline as inline SVG, with its figures as the accessible name. */
  function sparkline(points, label) {
    const values = (points || []).map((p) => Number(p.items) || 0);
    const width = 120, height = 28, pad = 2;
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
    const coords = values.map((v, i) => `${(pad + i * step).toFixed(1)},${(height - pad - (v / max) * (height - 2 * pad)).toFixed(1)}`);
    const total = values.reduce((a, b) => a + b, 0);
    const name = `${label || "Throughput"}: ${total} items in the last ${values.length} hours, at most ${Math.max(0, ...values)} an hour`;
    return el(
      "svg",
      { class: "sparkline", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": name },
      el("title", {}, name),
      el("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis" }),
      coords.length ? el("polyline", { points: coords.join(" "), class: "line" }) : null,
    );
  }

  /* A table with a caption and column headers (scope=col); rows are arrays of cells (nodes or text). */
  function table(caption, headers, rows, empty) {
    if (!rows.length) return el("p", { class: "empty" }, empty || "Nothing here.");
    return el(
      "table",
      {},
      el("caption", {}, caption),
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((row) => el("tr", {}, row.map((cell) => el("td", {}, cell))))),
    );
  }

  function param(name) {
    return new URLSearchParams(location.search).get(name);
  }

  return {
    API_BASE, ApiError, api, request, el, showError, clearErrors, announce, start, signOut,
    fmtTime, fmtValue, sparkline, table, param, key,
  };
})();
