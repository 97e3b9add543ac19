// The otad dashboard (docs/DASHBOARD.md): one ES module, no framework, no
// build step. It signs in with an API token (POST /api/v1/session: the
// server sets an HttpOnly cookie, we keep the CSRF token in memory only),
// routes pages in the browser with the History API under /ui/, and reads
// everything from /api/v1 with the cookie. Every value is put in the page
// with textContent or an attribute, never innerHTML; nothing writes an
// inline style (the CSP forbids it): looks are classes in app.css.
//
// Live updates: the page's GETs are repeated every 5 s with If-None-Match;
// a 304 keeps what is drawn, and a page is redrawn only when an answer
// changed. Polling stops while the tab is hidden or a dialog is open.

import { versionChart, chartLegend } from "/ui/assets/chart.js";

const POLL_MS = 5000;
const PAGE_ROWS = 50;
const SCOPE_RANK = { read: 1, publish: 2, admin: 3 };

let session = null; // {token_name, scope, expires, csrf} while signed in
let currentProduct = null; // the product the product pages last showed
let page = null; // {refresh(force)} of the page on screen
let pollTimer = null;
let renderSeq = 0; // a newer navigation makes an older page's late answers moot

// ---------------------------------------------------------------- DOM helpers

// h("a", {href, class, onclick}, child...): an element; strings become text nodes.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function link(href, ...children) {
  return h("a", { href }, ...children);
}

function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/:\d\dZ$/, "Z");
}

function ago(t) {
  if (!t) return "never";
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (Number.isNaN(s)) return String(t);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

const show = (v) => (v === null || v === undefined || v === "" ? "—" : typeof v === "boolean" ? (v ? "yes" : "no") : typeof v === "object" ? JSON.stringify(v) : String(v));

// A table that scrolls sideways on a phone: HEAD is the column names, ROWS arrays of cells.
function table(head, rows, { empty = "Nothing here yet.", cls = "" } = {}) {
  if (!rows.length) return h("p", { class: "muted empty" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", { class: cls },
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { "data-label": head[i] }, c)))))));
}

// A definition list of [label, value] pairs.
function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v instanceof Node ? v : show(v))]));
}

function badge(text, kind = text) {
  return h("span", { class: `badge badge-${String(kind).replace(/[^a-z0-9_-]/gi, "")}` }, show(text));
}

function progress(value, max, label) {
  const v = Math.max(0, Math.min(Number(value) || 0, Number(max) || 0));
  return h("progress", { value: v, max: Math.max(Number(max) || 0, 1), "aria-label": label, title: label });
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

function notice(text, kind = "error") {
  return h("p", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

function flash(text, kind = "ok") {
  const box = $("flash");
  clear(box).append(notice(text, kind));
  box.hidden = false;
}

const canAdmin = () => session && SCOPE_RANK[session.scope] >= SCOPE_RANK.admin;

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

// GET answers by URL, with their ETag: what a 304 stands for.
const cache = new Map();

// One request. A GET goes out with If-None-Match when we hold an answer for
// it; the result is {data, changed}. Other methods carry the CSRF token.
async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const opts = { method, headers, credentials: "same-origin", cache: "no-store" };
  const cached = method === "GET" ? cache.get(path) : undefined;
  if (cached) headers["If-None-Match"] = cached.etag;
  if (method !== "GET" && method !== "HEAD" && session) headers["X-CSRF-Token"] = session.csrf;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  if (resp.status === 304 && cached) return { data: cached.data, changed: false };
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    if (resp.status === 401 && session && path !== "/api/v1/session") signedOut("Your session ended: sign in again.");
    throw new ApiError(resp.status, err.code, err.message);
  }
  const etag = resp.headers.get("ETag");
  if (method === "GET" && etag) cache.set(path, { etag, data });
  return { data, changed: true };
}

const get = (path) => api("GET", path);

// GETs PATHS together; {data: [...], changed} where changed is true when any answer changed.
async function getAll(paths) {
  const results = await Promise.all(paths.map((p) => get(p)));
  return { data: results.map((r) => r.data), changed: results.some((r) => r.changed) };
}

// Like get, but null for a 404 or 403 (an endpoint this server or token does not have).
async function getOptional(path) {
  try {
    return await get(path);
  } catch (e) {
    if (e.status === 404 || e.status === 403 || e.status === 405) return { data: null, changed: false, status: e.status };
    throw e;
  }
}

// ---------------------------------------------------------------- dialogs

// Asks TEXT in the <dialog>; resolves to {ok, reason}.
function confirmDialog(title, text, { reason = false, ok = "Confirm" } = {}) {
  const dlg = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-reason-label").hidden = !reason;
  $("confirm-reason").value = "";
  $("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve({ ok: dlg.returnValue === "ok", reason: $("confirm-reason").value.trim() }), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
  });
}

// ---------------------------------------------------------------- routing

function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/ui")) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", () => route());
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) poll();
});

// path patterns -> page builders; {x} is one segment, given to the builder decoded.
const ROUTES = [
  ["/ui/signin", pageSignIn],
  ["/ui/products/{p}/releases", pageReleases],
  ["/ui/products/{p}/rollouts", pageRollouts],
  ["/ui/products/{p}/devices/{mac}", pageDevice],
  ["/ui/products/{p}/devices", pageDevices],
  ["/ui/products/{p}", pageProduct],
  ["/ui/sources", pageSources],
  ["/ui/tokens", pageTokens],
  ["/ui/audit", pageAudit],
  ["/ui", pageOverview],
  ["/ui/", pageOverview],
  ["/", pageOverview],
];

function matchRoute(path) {
  for (const [pattern, fn] of ROUTES) {
    const names = [];
    const re = new RegExp("^" + pattern.replace(/\{(\w+)\}/g, (_, n) => (names.push(n), "([^/]+)")) + "$");
    const m = path.match(re);
    if (m) return { fn, params: Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
  }
  return null;
}

async function route() {
  const seq = ++renderSeq;
  stopPolling();
  const main = $("main");
  $("flash").hidden = true;
  if (!session && location.pathname !== "/ui/signin") {
    try {
      session = (await api("GET", "/api/v1/session")).data.session;
    } catch {
      session = null;
    }
    if (seq !== renderSeq) return;
    if (!session) {
      const next = location.pathname + location.search;
      history.replaceState(null, "", "/ui/signin" + (next.startsWith("/ui/") && next !== "/ui/" ? `?next=${enc(next)}` : ""));
    }
  }
  drawChrome();
  const found = matchRoute(location.pathname);
  clear(main);
  if (!found) {
    main.append(h("h1", {}, "Not found"), h("p", {}, "No page here. ", link("/ui/", "Go to the overview.")));
    return;
  }
  const params = found.params;
  if (params.p) currentProduct = params.p;
  if (!currentProduct && session) {
    // The product pages in the nav need a product: the first one, until one is opened.
    try {
      const products = (await get("/api/v1/products")).data.products || [];
      if (products.length) currentProduct = products[0].name;
    } catch (e) {
      console.warn("otad dashboard: products:", e);
    }
    if (seq !== renderSeq) return;
  }
  drawNav();
  try {
    page = await found.fn(main, params, new URLSearchParams(location.search), seq);
    if (seq !== renderSeq) return;
    if (page && page.refresh) {
      await page.refresh(true);
      startPolling(seq);
    }
  } catch (e) {
    if (seq === renderSeq) showError(main, e);
  }
}

function showError(where, e) {
  console.warn("otad dashboard:", e);
  const text = e instanceof ApiError ? `${e.message} (${e.status}${e.code ? " " + e.code : ""})` : String(e.message || e);
  where.append(notice(text));
}

function startPolling(seq) {
  stopPolling();
  pollTimer = setInterval(() => {
    if (seq !== renderSeq) return stopPolling();
    poll();
  }, POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

let polling = false; // a poll in flight: the next tick skips rather than piling up on a slow answer

async function poll() {
  if (polling || document.hidden || !page || !page.refresh || !session || $("confirm").open) return;
  polling = true;
  try {
    await page.refresh(false);
  } catch (e) {
    console.warn("otad dashboard: refresh failed:", e);
  } finally {
    polling = false;
  }
}

// ---------------------------------------------------------------- chrome

function drawChrome() {
  const who = $("who");
  clear(who);
  who.hidden = !session;
  if (session) {
    who.append(
      h("span", { class: "who-name", title: `expires ${fmtTime(session.expires)}` }, session.token_name),
      " ", badge(session.scope, `scope-${session.scope}`), " ",
      h("button", { type: "button", id: "signout", class: "secondary small", onclick: signOut }, "Sign out"));
  }
}

function drawNav() {
  const nav = $("nav");
  clear(nav);
  nav.hidden = !session;
  if (!session) return;
  const here = location.pathname;
  const item = (href, text, exact) => h("a", { href, class: (exact ? here === href : here.startsWith(href)) ? "active" : null, "aria-current": here === href ? "page" : null }, text);
  nav.append(item("/ui/", "Overview", true));
  if (currentProduct) {
    const base = `/ui/products/${enc(currentProduct)}`;
    nav.append(
      item(base, currentProduct, true),
      item(`${base}/releases`, "Releases"),
      item(`${base}/rollouts`, "Rollouts"),
      item(`${base}/devices`, "Devices"));
  }
  nav.append(item("/ui/sources", "Sources"));
  // Tokens and the audit log are the admin's (the API refuses them to other scopes).
  if (canAdmin()) nav.append(item("/ui/tokens", "Tokens"), item("/ui/audit", "Audit log"));
}

async function signOut() {
  stopPolling(); // no poll may see the 401 of the ended session and sign out twice
  page = null;
  try {
    await api("DELETE", "/api/v1/session");
  } catch (e) {
    console.warn("otad dashboard: sign-out:", e);
  }
  signedOut("Signed out.");
}

function signedOut(message) {
  session = null;
  cache.clear();
  stopPolling();
  page = null;
  history.replaceState(null, "", "/ui/signin");
  route().then(() => message && flash(message, "ok"));
}

// ---------------------------------------------------------------- pages

async function pageSignIn(main, params, query) {
  drawNav();
  const input = h("input", { id: "token", name: "token", type: "password", required: true, autocomplete: "off", spellcheck: "false", placeholder: "otad_…" });
  const err = h("div", { id: "signin-error" });
  const form = h("form", { id: "signin", class: "card narrow" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Paste an API token (", h("code", {}, "otad token create"), "). It is exchanged for a session cookie and not kept in this page."),
    h("label", { class: "field" }, "API token", input),
    err,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "signin-submit" }, "Sign in")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(err);
    try {
      const { data } = await api("POST", "/api/v1/session", { token: input.value.trim() });
      session = data.session;
      input.value = "";
      const next = query.get("next");
      navigate(next && next.startsWith("/ui/") ? next : "/ui/", { replace: true });
    } catch (e) {
      err.append(notice(e.status === 401 ? "That token is not valid (unknown, revoked or mistyped)." : e.message));
    }
  });
  main.append(form);
  input.focus();
  return null;
}

// A live region: DRAW(data) fills it each time FETCH's answers changed.
function live(container, fetcher, draw) {
  return {
    async refresh(force) {
      const { data, changed } = await fetcher();
      if (!changed && !force) return;
      const fresh = h("div", { class: "live" });
      draw(fresh, data);
      clear(container).append(fresh);
    },
  };
}

async function pageOverview(main) {
  main.append(h("h1", {}, "Overview"));
  const body = h("div");
  main.append(body);
  return live(body, async () => {
    const ov = await getOptional("/api/v1/overview");
    if (ov.data) return { data: { overview: ov.data }, changed: ov.changed };
    // A server without /overview: the products and sources lists.
    const r = await getAll(["/api/v1/products", "/api/v1/sources"].map((p) => p));
    return { data: { products: r.data[0], sources: r.data[1] }, changed: r.changed };
  }, (el, d) => {
    const ov = d.overview;
    const products = ov ? ov.products || [] : (d.products.products || []).map((p) => ({ name: p.name }));
    if (!currentProduct && products.length) {
      currentProduct = products[0].name;
      drawNav();
    }
    const cards = h("div", { class: "grid" });
    for (const p of products) {
      const base = `/ui/products/${enc(p.name)}`;
      const card = h("section", { class: "card product-card" },
        h("h2", {}, link(base, p.name)),
        facts([["devices", p.devices], ["seen in 24 h", p.seen_24h], ["quiet", p.quiet]]));
      if (p.quiet) card.append(h("p", {}, link(`${base}/devices?quiet=1`, `${p.quiet} quiet device${p.quiet === 1 ? "" : "s"}`)));
      const versions = p.versions || [];
      if (versions.length) {
        const total = versions.reduce((s, v) => s + (v.devices || 0), 0);
        card.append(h("ul", { class: "versions" }, versions.slice(0, 6).map((v) =>
          h("li", {}, h("span", { class: "mono" }, v.version || "unknown"), " ", progress(v.devices, total, `${v.devices} of ${total}`), ` ${v.devices}`))));
      }
      const rollouts = p.rollouts || [];
      if (rollouts.length) {
        card.append(h("h3", {}, "Rollouts in flight"));
        for (const r of rollouts) card.append(rolloutSummary(p.name, r));
      }
      card.append(h("p", { class: "links" }, link(`${base}/devices`, "devices"), " · ", link(`${base}/rollouts`, "rollouts"), " · ", link(`${base}/releases`, "releases")));
      cards.append(card);
    }
    if (!products.length) cards.append(h("p", { class: "muted" }, "No products yet: ", h("code", {}, "otad product add NAME"), "."));
    el.append(cards);
    const sources = ov ? ov.sources || [] : (d.sources && d.sources.sources) || [];
    el.append(section("Sources", table(["source", "status", "last poll", "rate limit left"], sources.map((s) => [
      link("/ui/sources", s.repo || s.repository || `#${s.id}`),
      h("span", { title: s.last_error || "" }, badge(typeof s.status === "string" ? s.status : s.status && s.status.last_error ? "error" : "ok")),
      ago(s.last_poll || (s.status && s.status.last_poll)),
      show(s.rate_limit_left ?? (s.status && s.status.rate_limit && s.status.rate_limit.remaining)),
    ]), { empty: "No release sources." })));
    if (ov && ov.generated) el.append(h("p", { class: "muted small" }, `as of ${fmtTime(ov.generated)}`));
  });
}

// A rollout in a line and its stages' bars (overview): stages are [{percent, served, succeeded, ...}] or numbers.
function rolloutSummary(product, r) {
  const stages = r.stages || [];
  return h("div", { class: "rollout-summary" },
    h("p", {}, link(`/ui/products/${enc(product)}/rollouts`, `#${r.id} ${r.version}`), ` on ${r.channel} `, badge(r.state), ` stage ${show(r.stage)}/${stages.length || "?"}`),
    h("ol", { class: "stages" }, stages.map((s, i) => {
      const st = typeof s === "object" && s ? s : { percent: s };
      const served = st.served ?? st.offered ?? 0;
      const ok = st.succeeded ?? 0;
      const label = `stage ${i + 1} (${show(st.percent)}%): ${ok} of ${served} succeeded`;
      return h("li", {}, h("span", { class: "small" }, `${show(st.percent)}%`), " ", progress(ok, served, label), h("span", { class: "small muted" }, ` ${ok}/${served}`));
    })));
}

async function pageProduct(main, { p }) {
  const base = `/api/v1/products/${enc(p)}`;
  main.append(h("h1", {}, p));
  const body = h("div");
  main.append(body);
  return live(body, async () => {
    const r = await getAll([base, `${base}/channels`, `${base}/releases`]);
    const hist = await getOptional(`${base}/versions/history?days=30`);
    return { data: [...r.data, hist.data], changed: r.changed || hist.changed };
  }, (el, [prod, ch, rel, hist]) => {
    const product = prod.product;
    el.append(h("div", { class: "grid" },
      section("Product", facts([["platform", product.platform], ["default channel", product.default_channel], ["created", fmtTime(product.created)],
        ["signing", product.signing && product.signing.required ? `required (key ${show(product.signing.key)})` : "off"]])),
      section("Channels", table(["channel", "deploy", "deployed", "latest", "rollout"], (ch.channels || []).map((c) => [
        c.name, c.deploy, h("span", { class: "mono" }, show(c.deployed)), h("span", { class: "mono" }, show(c.latest)),
        c.active_rollout ? link(`/ui/products/${enc(p)}/rollouts`, `#${c.active_rollout}`) : "—",
      ])))));
    const chartCard = section("Versions over 30 days");
    if (hist) chartCard.append(h("div", { class: "chart-wrap" }, versionChart(hist)), chartLegend(hist));
    else chartCard.append(h("p", { class: "muted" }, "This server has no version history (GET versions/history)."));
    el.append(chartCard);
    const warnings = product.delivery_warnings || [];
    if (warnings.length) el.append(section("Delivery warnings", table(["code", "devices", "fix"], warnings.map((w) => [w.code, w.devices, w.fix || w.message]))));
    el.append(section("Releases", releasesTable(p, (rel.releases || []).slice(0, 10)),
      h("p", {}, link(`/ui/products/${enc(p)}/releases`, "All releases"))));
  });
}

function releasesTable(p, releases) {
  return table(["version", "channel", "mode", "size", "forms", "app", "published", "created"], releases.map((r) => [
    h("span", { class: "mono" }, r.version), r.channel, r.mode, fmtBytes(r.size),
    h("span", { class: "forms" }, (r.variants || []).map((v) => badge(v.kind, "form"))),
    r.app ? h("span", { class: "app-desc", title: appDescLines(r.app).map(([k, v]) => `${k}: ${v}`).join("\n") }, appDescSummary(r.app)) : "—",
    publishedBy(r),
    fmtTime(r.created),
  ]), { empty: "No releases yet." });
}

// A release's ESP-IDF app descriptor (docs/PROTOCOL.md, "The app descriptor") in a few words:
// "IDF v5.2.1 · sv 3", "framework" first for arduino-esp32's prebuilt one.
function appDescSummary(app) {
  return `${app.framework ? "framework · " : ""}IDF ${app.idf_version || "?"} · sv ${app.secure_version}`;
}

// Chip revisions are major * 100 + minor; null is no bound.
function chipRev(rev) {
  return rev == null ? "any" : `v${Math.floor(rev / 100)}.${rev % 100}`;
}

// Every field of the descriptor, as [name, text] pairs for the hover and the release's details.
function appDescLines(app) {
  return [
    ["project", app.framework ? `${app.project} (arduino-esp32's framework)` : app.project],
    ["app version", app.version],
    ["secure_version", String(app.secure_version)],
    ["IDF version", app.idf_version],
    ["built", `${app.build_date} ${app.build_time}`.trim() || "—"],
    ["chip", `${app.chip || "?"}, revisions ${chipRev(app.min_chip_rev)} to ${chipRev(app.max_chip_rev)}`],
    ["ELF SHA-256", app.elf_sha256],
  ];
}

// Who published a release and from where: "published" when the server records it, else its source.
function publishedBy(r) {
  const pub = r.published;
  if (pub && typeof pub === "object") {
    const parts = [pub.by ? `by ${pub.by}` : null, pub.via ? `via ${pub.via}` : null, pub.tag ? `tag ${pub.tag}` : null].filter(Boolean);
    return parts.join(", ") || "—";
  }
  return show(r.source);
}

async function pageReleases(main, { p }) {
  main.append(h("h1", {}, `${p}: releases`));
  const body = h("div");
  main.append(body);
  return live(body, () => get(`/api/v1/products/${enc(p)}/releases`), (el, data) => {
    const releases = data.releases || [];
    el.append(section("Releases", releasesTable(p, releases)));
    for (const r of releases.slice(0, 20)) {
      el.append(h("details", { class: "card release" },
        h("summary", {}, h("span", { class: "mono" }, r.version), ` (${r.channel}, ${r.mode})`),
        facts([["sequence", r.seq], ["size", fmtBytes(r.size)], ["MD5", h("span", { class: "mono" }, show(r.md5))], ["SHA-256", h("span", { class: "mono wrap" }, show(r.sha256))],
          ["source", r.source], ["published", publishedBy(r)], ["signed by", r.signed_by], ["verifier key", r.verifier_key], ["notes", r.notes],
          ...(r.app ? appDescLines(r.app).map(([k, v]) => [k, k === "ELF SHA-256" ? h("span", { class: "mono wrap" }, v) : v]) : [["app descriptor", "none"]])]),
        table(["form", "size", "MD5"], (r.variants || []).map((v) => [v.kind, fmtBytes(v.size), h("span", { class: "mono" }, show(v.md5))]))));
    }
  });
}

const ACTIONS = {
  running: ["pause", "promote", "abort"],
  paused: ["resume", "promote", "abort"],
  halted: ["resume", "abort", "revert"],
  aborted: ["revert"],
  queued: ["abort"],
};
const ACTION_TEXT = {
  pause: ["Pause", "No new device is offered this release until it is resumed."],
  resume: ["Resume", "Offers start again; a halted rollout forgets its failures and soaks again."],
  promote: ["Promote", "The next stage starts now (after the last one, the rollout completes)."],
  abort: ["Abort", "The rollout ends; devices keep what they have."],
  revert: ["Roll back", "A new rollout of the channel's release goes to the devices that took this one."],
};

async function pageRollouts(main, { p }) {
  const base = `/api/v1/products/${enc(p)}`;
  main.append(h("h1", {}, `${p}: rollouts`));
  const msg = h("div", { id: "rollout-msg" });
  main.append(msg);
  if (canAdmin()) main.append(await startRolloutForm(p, msg));
  const body = h("div");
  main.append(body);
  const view = live(body, () => get(`${base}/rollouts`), (el, data) => {
    const rollouts = data.rollouts || [];
    if (!rollouts.length) el.append(h("p", { class: "muted" }, "No rollouts yet."));
    for (const r of rollouts) el.append(rolloutCard(p, r, msg, () => view.refresh(true)));
  });
  return view;
}

async function startRolloutForm(p, msg) {
  const base = `/api/v1/products/${enc(p)}`;
  const [rel, ch] = (await getAll([`${base}/releases`, `${base}/channels`])).data;
  const version = h("select", { id: "start-version", name: "version", required: true },
    (rel.releases || []).map((r) => h("option", { value: r.version }, `${r.version} (${r.channel}, ${r.mode})`)));
  const channel = h("select", { id: "start-channel", name: "channel" }, h("option", { value: "" }, "the release's channel"),
    (ch.channels || []).map((c) => h("option", { value: c.name }, c.name)));
  const stages = h("input", { id: "start-stages", name: "stages", placeholder: "1,10,100", inputmode: "numeric", pattern: "[0-9, ]*" });
  const rollback = h("input", { id: "start-rollback", type: "checkbox", name: "rollback" });
  const form = h("form", { id: "start-rollout", class: "card form-row" },
    h("h2", {}, "Start a rollout"),
    h("label", { class: "field" }, "Release", version),
    h("label", { class: "field" }, "Channel", channel),
    h("label", { class: "field" }, "Stages (%)", stages),
    h("label", { class: "check" }, rollback, " an older release on purpose (rollback)"),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "start-submit" }, "Start…")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(msg);
    const body = { version: version.value };
    if (channel.value) body.channel = channel.value;
    if (stages.value.trim()) body.plan = { stages: stages.value.trim() };
    if (rollback.checked) body.rollback = true;
    const { ok } = await confirmDialog("Start a rollout?", `Roll ${p} ${body.version} out${body.channel ? " on " + body.channel : ""}${body.plan ? " in stages " + body.plan.stages : ""}.`, { ok: "Start" });
    if (!ok) return;
    try {
      const { data } = await api("POST", `${base}/rollouts`, body);
      msg.append(notice(`Rollout #${data.rollout.id} started (${data.rollout.state}).`, "ok"));
      await page.refresh(true);
    } catch (e) {
      msg.append(notice(e.message));
    }
  });
  return form;
}

function rolloutCard(p, r, msg, redraw) {
  const c = r.counters || {};
  const card = h("section", { class: `card rollout state-${r.state}`, "data-rollout": r.id },
    h("h2", {}, `#${r.id} `, h("span", { class: "mono" }, r.version), ` on ${r.channel} `, badge(r.state), r.kind && r.kind !== "normal" ? [" ", badge(r.kind)] : null),
    h("p", {}, `stage ${show(r.stage)} of ${show(r.stage_count)} (${show(r.stage_percent)}%), admitted ${show(r.admitted_percent)}% `,
      progress(r.admitted_percent, 100, `admitted ${show(r.admitted_percent)}%`)),
    r.next ? h("p", { class: "muted" }, r.next) : null,
    r.reason ? h("p", { class: "reason" }, h("strong", {}, r.state === "halted" ? "Halted: " : "Reason: "), r.reason) : null,
    h("p", { class: "small muted" }, `started by ${show(r.actor)} ${fmtTime(r.created)}, updated ${ago(r.updated)}`),
    table(["stage", "progress", "offered", "served", "succeeded", "failed", "silent", "interrupted"],
      (r.per_stage || []).map((s) => [
        `${s.stage} (${s.percent}%)`,
        progress(s.succeeded, s.offered, `${s.succeeded || 0} of ${s.offered || 0} succeeded`),
        show(s.offered), show(s.served), show(s.succeeded), show(s.failed), show(s.silent), show(s.interrupted),
      ]), { empty: "No device offered yet.", cls: "counters" }),
    h("p", { class: "small" }, `all stages: offered ${show(c.offered)}, downloading ${show(c.downloading)}, served ${show(c.served)}, succeeded ${show(c.succeeded)}, failed ${show(c.failed)}, silent ${show(c.silent)}, interrupted ${show(c.interrupted)}`));
  if (canAdmin()) {
    const actions = ACTIONS[r.state] || [];
    if (actions.length) {
      card.append(h("div", { class: "actions" }, actions.map((a) => h("button", {
        type: "button", class: a === "abort" || a === "revert" ? "danger" : "secondary", "data-action": a,
        onclick: async () => {
          const [label, text] = ACTION_TEXT[a];
          const { ok, reason } = await confirmDialog(`${label} rollout #${r.id}?`, text, { reason: true, ok: label });
          if (!ok) return;
          clear(msg);
          try {
            await api("POST", `/api/v1/products/${enc(p)}/rollouts/${r.id}/${a}`, reason ? { reason } : {});
            msg.append(notice(`Rollout #${r.id}: ${a} done.`, "ok"));
            await redraw();
          } catch (e) {
            msg.append(notice(e.message));
          }
        },
      }, ACTION_TEXT[a][0]))));
    }
  }
  return card;
}

const DEVICE_FILTERS = ["q", "version", "channel", "group", "outcome", "quiet"];
const CURSORS = ["after", "before", "last"];

async function pageDevices(main, { p }, query) {
  const base = `/api/v1/products/${enc(p)}`;
  main.append(h("h1", {}, `${p}: devices`));
  const state = Object.fromEntries(DEVICE_FILTERS.map((k) => [k, query.get(k) || ""]));
  const field = (k, label, attrs = {}) => h("label", { class: "field" }, label, h("input", { id: `filter-${k}`, name: k, value: state[k], ...attrs }));
  const quiet = h("input", { id: "filter-quiet", name: "quiet", type: "checkbox", checked: state.quiet === "1" });
  const form = h("form", { id: "device-filters", class: "card filters", role: "search" },
    field("q", "Search", { type: "search", placeholder: "MAC prefix or version", autocomplete: "off" }),
    field("version", "Version", { list: "dl-version" }),
    field("channel", "Channel", { list: "dl-channel" }),
    field("group", "Group", { list: "dl-group" }),
    field("outcome", "Outcome", { list: "dl-outcome" }),
    h("label", { class: "check" }, quiet, " quiet only"),
    h("datalist", { id: "dl-outcome" }, ["update", "current", "refused", "not_found"].map((o) => h("option", { value: o }))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter"), h("a", { href: `/ui/products/${enc(p)}/devices`, class: "button secondary" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of DEVICE_FILTERS) {
      if (k === "quiet") {
        if (quiet.checked) q.set("quiet", "1");
        continue;
      }
      const v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    }
    navigate(`/ui/products/${enc(p)}/devices${q.toString() ? "?" + q : ""}`);
  });
  main.append(form);
  // Suggestions for the filters: what the product has (best effort).
  getAll([`${base}/releases`, `${base}/channels`, `${base}/groups`]).then(({ data: [rel, ch, gr] }) => {
    form.append(
      h("datalist", { id: "dl-version" }, (rel.releases || []).map((r) => h("option", { value: r.version }))),
      h("datalist", { id: "dl-channel" }, (ch.channels || []).map((c) => h("option", { value: c.name }))),
      h("datalist", { id: "dl-group" }, (gr.groups || []).map((g) => h("option", { value: g.name }))));
  }).catch((e) => console.warn("otad dashboard: filter suggestions:", e));

  const api_q = new URLSearchParams({ limit: String(PAGE_ROWS) });
  for (const k of DEVICE_FILTERS) if (state[k]) api_q.set(k, state[k]);
  for (const k of CURSORS) if (query.get(k)) api_q.set(k, query.get(k));
  const body = h("div");
  main.append(body);
  return live(body, () => get(`${base}/devices?${api_q}`), (el, data) => {
    const devices = data.devices || [];
    const filters = new URLSearchParams();
    for (const k of DEVICE_FILTERS) if (state[k]) filters.set(k, state[k]);
    const pageUrl = (cursor) => {
      const q = new URLSearchParams(filters);
      for (const [k, v] of Object.entries(cursor)) q.set(k, v);
      const s = q.toString();
      return `/ui/products/${enc(p)}/devices${s ? "?" + s : ""}`;
    };
    const atStart = !data.has_prev;
    const atEnd = !data.has_next;
    const prevCursor = data.prev_before || (devices.length ? devices[0].mac : "");
    const nextCursor = data.next_after || (devices.length ? devices[devices.length - 1].mac : "");
    const pager = h("nav", { class: "pager", "aria-label": "pages" },
      pagerLink(pageUrl({}), "« First", atStart, "page-first"),
      // A filter no index answers scans a bounded stretch of MACs per page: the server then says where
      // the scan stopped (prev_before, next_after), and a page may hold fewer devices, even none.
      pagerLink(prevCursor ? pageUrl({ before: prevCursor }) : "", "‹ Previous", atStart || !prevCursor, "page-prev"),
      pagerLink(nextCursor ? pageUrl({ after: nextCursor }) : "", "Next ›", atEnd || !nextCursor, "page-next"),
      pagerLink(pageUrl({ last: "1" }), "Last »", atEnd, "page-last"),
      h("span", { class: "muted small" }, data.total === null || data.total === undefined ? "" : ` ${data.total_estimated ? "about " : ""}${data.total} device${data.total === 1 ? "" : "s"}`));
    el.append(table(["MAC", "version", "channel", "group", "last seen", "outcome", ""], devices.map((d) => [
      link(`/ui/products/${enc(p)}/devices/${enc(d.mac)}`, h("span", { class: "mono" }, d.mac)),
      h("span", { class: "mono" }, show(d.version)), show(d.channel), show(d.group),
      h("span", { title: fmtTime(d.last_seen) }, ago(d.last_seen)), show(d.outcome ?? d.last_status), d.quiet ? badge("quiet") : "",
    ]), { empty: "No device matches.", cls: "devices" }), pager);
  });
}

function pagerLink(href, text, disabled, id) {
  if (disabled) return h("span", { class: "button secondary disabled", "aria-disabled": "true", id }, text);
  return h("a", { href, class: "button secondary", id }, text);
}

async function pageDevice(main, { p, mac }) {
  main.append(h("h1", {}, h("span", { class: "mono" }, mac)), h("p", {}, link(`/ui/products/${enc(p)}/devices`, `‹ ${p} devices`)));
  const body = h("div");
  main.append(body);
  return live(body, () => get(`/api/v1/products/${enc(p)}/devices/${enc(mac)}`), (el, data) => {
    const d = data.device || {};
    const last = d.last_checkin || {};
    el.append(h("div", { class: "grid" },
      section("Why it gets what it gets", facts([
        ["decision", d.decision], ["target", d.target], ["channel", d.channel], ["chosen by", d.channel_rule],
        ["pinned", d.pinned], ["held", d.held], ["rollout", d.rollout ? link(`/ui/products/${enc(p)}/rollouts`, `#${d.rollout}`) : "—"],
        ["stage", d.stage], ["bucket", d.bucket], ["admitted", d.admitted], ["window open", d.window_open],
        ["check-in interval", d.interval_s ? `${d.interval_s} s` : "not learned yet"],
      ])),
      section("Last check-in", d.last_checkin ? facts([
        ["version", last.version], ["last seen", `${fmtTime(last.last_seen)} (${ago(last.last_seen)})`], ["first seen", fmtTime(last.first_seen)],
        ["answer", last.last_status], ["offered", last.last_offered_version], ["address", last.remote_addr], ["user agent", last.user_agent],
        ["SDK", last.sdk_version], ["core", last.core_version], ["chip size", fmtBytes(last.chip_size)], ["free space", fmtBytes(last.free_space)],
        ["sketch MD5", last.sketch_md5], ["check-ins", last.checkins], ["delivery issue", last.delivery_issue],
        ["secure_version", last.secure_version_max == null ? null : `${last.secure_version_max} (highest reported; last ${show(last.secure_version)})`],
      ]) : h("p", { class: "muted" }, "No check-in recorded."))));
    if (d.standing) {
      const s = d.standing;
      el.append(section("In its rollout", facts([["rollout", `#${s.rollout}`], ["stage", s.stage], ["outcome", s.outcome], ["from", s.from_version],
        ["offered", fmtTime(s.offered)], ["served", fmtTime(s.served)], ["outcome at", fmtTime(s.outcome_at)], ["deadline", fmtTime(s.deadline)], ["interruptions", s.interruptions]])));
    }
    el.append(section("History", table(["at", "event", "version", "detail"], (d.history || []).map((e) => [
      fmtTime(e.at), e.event, h("span", { class: "mono" }, show(e.version)),
      show(e.detail ?? [e.outcome, e.rollout ? `rollout #${e.rollout}` : null].filter(Boolean).join(", ")),
    ]), { empty: "No events recorded." })));
  });
}

async function pageSources(main) {
  main.append(h("h1", {}, "Sources"));
  const msg = h("div");
  const body = h("div");
  main.append(msg, body);
  const view = live(body, () => getOptional("/api/v1/sources"), (el, data) => {
    if (!data) {
      el.append(h("p", { class: "muted" }, "This server runs no release sources."));
      return;
    }
    const sources = data.sources || [];
    el.append(table(["source", "product", "status", "last poll", "rate limit left", "next poll", ""], sources.map((s) => {
      const st = s.status || {};
      const rl = st.rate_limit || {};
      return [
        h("span", {}, h("span", { class: "mono" }, s.repository), h("br"), h("span", { class: "small muted" }, `#${s.id} ${s.kind}, asset ${show(s.asset)}`)),
        link(`/ui/products/${enc(s.product)}`, s.product),
        st.last_error ? h("span", {}, badge("error"), " ", h("span", { class: "small" }, st.last_error)) : badge("ok"),
        h("span", { title: fmtTime(st.last_poll) }, ago(st.last_poll)),
        rl.remaining === null || rl.remaining === undefined ? "—" : `${rl.remaining} of ${show(rl.limit)}`,
        fmtTime(st.next_poll),
        canAdmin() ? h("button", { type: "button", class: "secondary small", "data-sync": s.id, onclick: async () => {
          clear(msg);
          try {
            await api("POST", `/api/v1/sources/${s.id}/sync`, {});
            msg.append(notice(`Source #${s.id}: a poll is queued.`, "ok"));
          } catch (e) {
            msg.append(notice(e.message));
          }
        } }, "Sync now") : "",
      ];
    }), { empty: "No release sources: otad source add (README, \"Continuous deployment\")." }));
  });
  return view;
}

async function pageTokens(main) {
  main.append(h("h1", {}, "API tokens"));
  if (!canAdmin()) {
    main.append(notice("Only an admin session manages tokens.", "info"));
    return null;
  }
  const msg = h("div", { id: "token-msg" });
  const name = h("input", { id: "token-name", name: "name", required: true, maxlength: 64, autocomplete: "off" });
  const scope = h("select", { id: "token-scope", name: "scope" }, ["read", "publish", "admin"].map((s) => h("option", { value: s }, s)));
  const form = h("form", { id: "token-create", class: "card form-row" }, h("h2", {}, "Create a token"),
    h("label", { class: "field" }, "Name", name), h("label", { class: "field" }, "Scope", scope),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create")));
  const body = h("div");
  main.append(form, msg, body);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(msg);
    try {
      const { data } = await api("POST", "/api/v1/tokens", { name: name.value.trim(), scope: scope.value });
      const secret = h("input", { id: "token-secret", class: "mono secret", readonly: true, value: data.secret, "aria-label": "the new token" });
      const copy = h("button", { type: "button", class: "secondary", onclick: async () => {
        secret.select();
        try {
          await navigator.clipboard.writeText(data.secret);
          copy.textContent = "Copied";
        } catch {
          copy.textContent = "Press Ctrl+C";
        }
      } }, "Copy");
      msg.append(h("div", { class: "card secret-box", role: "status" },
        h("p", {}, h("strong", {}, `Token "${data.token.name}" (${data.token.scope}) created.`), " Copy it now: it is shown only once."),
        h("div", { class: "secret-row" }, secret, copy)));
      name.value = "";
      await view.refresh(true);
    } catch (e) {
      msg.append(notice(e.message));
    }
  });
  const view = live(body, () => getOptional("/api/v1/tokens"), (el, data) => {
    if (!data) {
      el.append(h("p", { class: "muted" }, "This server does not list tokens over the API yet."));
      return;
    }
    el.append(table(["id", "name", "scope", "created", "state", ""], (data.tokens || []).map((t) => [
      show(t.id), t.name, badge(t.scope, `scope-${t.scope}`), fmtTime(t.created), t.revoked ? `revoked ${fmtTime(t.revoked)}` : badge("active", "ok"),
      t.revoked ? "" : h("button", { type: "button", class: "danger small", "data-revoke": t.id, onclick: async () => {
        const { ok } = await confirmDialog(`Revoke "${t.name}"?`, "Anything that uses this token (CI, scripts, dashboard sessions) is refused from now on.", { ok: "Revoke" });
        if (!ok) return;
        clear(msg);
        try {
          await api("DELETE", `/api/v1/tokens/${enc(t.id)}`);
          msg.append(notice(`Token "${t.name}" revoked.`, "ok"));
          await view.refresh(true);
        } catch (e) {
          msg.append(notice(e.message));
        }
      } }, "Revoke"),
    ]), { empty: "No tokens." }));
  });
  return view;
}

// The filters GET /api/v1/audit takes: actor, action (a prefix), product, outcome, since, until.
const AUDIT_FILTERS = ["actor", "action", "product", "outcome", "since", "until"];

async function pageAudit(main, params, query) {
  main.append(h("h1", {}, "Audit log"));
  const state = Object.fromEntries(AUDIT_FILTERS.map((k) => [k, query.get(k) || ""]));
  const input = (k, label, attrs = {}) => h("label", { class: "field" }, label, h("input", { id: `audit-${k}`, name: k, value: state[k], autocomplete: "off", ...attrs }));
  const outcome = h("select", { id: "audit-outcome", name: "outcome" }, ["", "ok", "failed"].map((o) => h("option", { value: o, selected: state.outcome === o }, o || "any")));
  const form = h("form", { id: "audit-filters", class: "card filters", role: "search" },
    input("actor", "Actor"), input("action", "Action (prefix)", { placeholder: "rollout." }), input("product", "Product"),
    h("label", { class: "field" }, "Outcome", outcome),
    input("since", "Since", { placeholder: "2026-01-31T00:00:00Z" }), input("until", "Until"),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Filter"), h("a", { href: "/ui/audit", class: "button secondary" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of AUDIT_FILTERS) if (form.elements[k].value.trim()) q.set(k, form.elements[k].value.trim());
    navigate(`/ui/audit${q.toString() ? "?" + q : ""}`);
  });
  main.append(form);
  const api_q = new URLSearchParams({ limit: String(PAGE_ROWS) });
  for (const k of AUDIT_FILTERS) if (state[k]) api_q.set(k, state[k]);
  if (query.get("before")) api_q.set("before", query.get("before"));
  const body = h("div");
  main.append(body);
  return live(body, () => getOptional(`/api/v1/audit?${api_q}`), (el, data) => {
    if (!data) {
      el.append(h("p", { class: "muted", id: "audit-missing" }, "This server has no audit log API (GET /api/v1/audit), or this token may not read it."));
      return;
    }
    el.append(table(["at", "actor", "via", "from", "action", "product", "object", "params", "outcome"], (data.entries || []).map((e) => {
      // The actor and the outcome are objects ({via, name, address}, {ok, status, error, reason}).
      const actor = e.actor && typeof e.actor === "object" ? e.actor : { name: e.actor, via: e.via, address: e.address };
      const out = e.outcome && typeof e.outcome === "object" ? e.outcome : { ok: e.outcome === "ok", text: e.outcome };
      const outcome = out.text ?? (out.ok ? "ok" : [out.status, out.error].filter(Boolean).join(" ") || "failed");
      return [
        fmtTime(e.at), show(actor.name), show(actor.via), show(actor.address), h("span", { class: "mono" }, show(e.action)), show(e.product), show(e.object),
        e.params && Object.keys(e.params).length ? h("span", { class: "mono small" }, JSON.stringify(e.params)) : "—",
        h("span", { title: out.reason || "" }, badge(outcome, out.ok ? "ok" : "failed")),
      ];
    }), { empty: "No entries.", cls: "audit" }));
    if (data.next_before !== null && data.next_before !== undefined) {
      const q = new URLSearchParams();
      for (const k of AUDIT_FILTERS) if (state[k]) q.set(k, state[k]);
      q.set("before", String(data.next_before));
      el.append(h("nav", { class: "pager" }, h("a", { href: "/ui/audit", class: "button secondary" }, "« Newest"), h("a", { href: `/ui/audit?${q}`, class: "button secondary", id: "audit-older" }, "Older ›")));
    }
  });
}

route();
