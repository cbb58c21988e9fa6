// The lineage bridge status page: reads /ui/api/* (see README, "The status page") and draws it.
// Everything from the server is put in the page as text (never as HTML).
"use strict";

const NOW_EVERY_MS = 2000;
const LISTS_EVERY_MS = 5000;
const COUNTERS = ["received", "spooled", "delivered", "retried", "dead_lettered"];
const state = { token: sessionStorage.getItem("bridgeToken") || "", prev: null, canRetry: false, run: null, focus: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function $(id) { return document.getElementById(id); }

function when(epoch) {
  return epoch ? new Date(epoch * 1000).toLocaleString() : "";
}

class Unauthorized extends Error {}

async function api(path, options) {
  const headers = {};
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const response = await fetch(path, { ...(options || {}), headers });
  if (response.status === 401 || response.status === 403 && path.indexOf("/retry") < 0) {
    showLogin(response.status === 403 ? "That token is not valid." : "");
    throw new Unauthorized(String(response.status));
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.reason || body.error || String(response.status));
  return body;
}

// -- login ----------------------------------------------------------------------

function showLogin(message) {
  $("content").hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("login-error").textContent = message || "";
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token-input").value.trim();
  sessionStorage.setItem("bridgeToken", state.token);
  $("token-input").value = "";
  start();
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem("bridgeToken");
  state.token = "";
  location.reload();
});

// -- now ------------------------------------------------------------------------

async function refreshNow() {
  const now = await api("/ui/api/now");
  state.canRetry = now.can_retry;
  $("mode").textContent = now.mode === "serve" ? "bridge serve" : "bridge ui (no server: state directory only)";
  $("now-time").textContent = new Date(now.time * 1000).toLocaleTimeString();
  const cards = [];
  const prev = state.prev;
  if (now.counters) {
    for (const name of COUNTERS) {
      const value = now.counters[name];
      let rate = "";
      if (prev && prev.counters && now.time > prev.time) {
        rate = ((value - prev.counters[name]) / (now.time - prev.time)).toFixed(1) + "/s";
      }
      cards.push(card(name.replace("_", " "), value, rate, "counter-" + name));
    }
  }
  cards.push(card("spool depth", now.spool.pending, now.spool.retrying ? now.spool.retrying + " retrying" : "", "counter-depth"));
  cards.push(card("dead letters", now.spool.dead, "", "counter-dead"));
  $("counters").replaceChildren(...cards);
  const health = [el("b", {}, "emitter "), now.emitter.kind, ": ", el("span", { id: "emitter-health" }, now.emitter.health),
                  " · delivery: ", now.delivery];
  if (now.spool.last_error) health.push(el("br"), "last error: ", now.spool.last_error);
  $("health").replaceChildren(...health);
  $("retry-note").hidden = now.can_retry;
  state.prev = now;
}

function card(label, value, sub, id) {
  return el("div", { class: "card", id }, el("div", { class: "value" }, value), el("div", { class: "label" }, label),
            el("div", { class: "sub" }, sub));
}

// -- runs -----------------------------------------------------------------------

function delivery(summary) {
  return Object.entries(summary).map(([k, v]) => `${v} ${k}`).join(", ");
}

async function refreshRuns() {
  const { runs } = await api("/ui/api/runs");
  const rows = [];
  let job = null;
  const byJob = [...runs].sort((a, b) => (a.job || "").localeCompare(b.job || "") || b.last_received - a.last_received);
  for (const run of byJob) {
    rows.push(el("tr", { class: "run", "data-run-id": run.run_id, onclick: () => showRun(run.run_id) },
      el("td", {}, run.job === job ? "" : run.job), el("td", {}, el("code", {}, run.run_id)),
      el("td", { class: "state " + (run.state || "") }, run.state), el("td", {}, run.events),
      el("td", {}, delivery(run.delivery)), el("td", {}, run.last_event_time || ""),
      el("td", {}, when(run.last_received))));
    job = run.job;
  }
  $("runs-body").replaceChildren(...rows);
  $("runs-empty").hidden = runs.length > 0;
}

async function showRun(runId) {
  state.run = runId;
  const run = await api("/ui/api/runs/" + encodeURIComponent(runId));
  $("run-id").textContent = run.run_id;
  $("run-job").replaceChildren("job ", el("b", {}, run.job || ""), " ",
    run.job_urn ? el("a", { href: "#", onclick: (e) => { e.preventDefault(); showGraph(run.job_urn); } }, "show lineage") : "");
  $("run-events").replaceChildren(...run.events.map(eventView));
  $("run-detail").hidden = false;
  $("run-detail").scrollIntoView();
}

function eventView(event) {
  const status = event.status;
  const statusText = status.state + (status.reason ? ": " + status.reason : "") + (status.error ? ": " + status.error : "");
  const mcps = el("table", { class: "mcps" },
    el("thead", {}, el("tr", {}, el("th", {}, "Entity"), el("th", {}, "Aspect"), el("th", {}, "Change"), el("th", {}, "Status"))),
    el("tbody", {}, ...event.mcps.map((m) => el("tr", { class: "mcp", "data-status": m.status },
      el("td", {}, el("code", {}, m.entityUrn)), el("td", {}, m.aspectName), el("td", {}, m.changeType),
      el("td", { class: "status " + m.status }, m.status)))));
  const datasets = el("table", { class: "datasets" },
    el("thead", {}, el("tr", {}, el("th", {}, "Role"), el("th", {}, "OpenLineage"), el("th", {}, "URN"), el("th", {}, "Rule"))),
    el("tbody", {}, ...event.datasets.map((d) => el("tr", { class: "dataset" },
      el("td", {}, d.role), el("td", {}, `${d.namespace} ${d.name}`),
      el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); showGraph(d.urn); } }, el("code", {}, d.urn))),
      el("td", { class: "rule" }, d.rule)))));
  return el("article", { class: "event", "data-status": status.state },
    el("h3", {}, `${event.event_type} `, el("small", {}, `${event.event_time || ""} · received ${when(event.received)} · `),
       el("span", { class: "status " + status.state }, statusText)),
    event.error ? el("p", { class: "error" }, event.error) : null,
    el("h4", {}, `MCPs the bridge made (${event.mcps.length})`), mcps,
    event.datasets.length ? el("h4", {}, "Datasets") : null, event.datasets.length ? datasets : null,
    el("details", {}, el("summary", {}, "The OpenLineage event as received (secrets redacted)"),
       el("pre", {}, JSON.stringify(event.event, null, 2))));
}

$("run-close").addEventListener("click", () => { $("run-detail").hidden = true; state.run = null; });

// -- dead letters ---------------------------------------------------------------

async function refreshDead() {
  const { count, dead_letters: letters } = await api("/ui/api/dead");
  $("dead-count").textContent = count ? `(${count})` : "";
  $("dead-body").replaceChildren(...letters.map((d) => el("tr", { class: "dead", "data-id": d.id },
    el("td", {}, d.id), el("td", {}, d.key), el("td", {}, when(d.failed_at)), el("td", {}, d.attempts),
    el("td", {}, d.status || ""), el("td", { class: "reason" }, d.reason),
    el("td", {}, state.canRetry ? el("button", { class: "retry", type: "button", onclick: () => retry(d.id) }, "Retry") : ""))));
  $("dead-empty").hidden = letters.length > 0;
}

async function retry(id) {
  try {
    await api(`/ui/api/dead/${id}/retry`, { method: "POST" });
  } catch (error) {
    if (!(error instanceof Unauthorized)) alert("Retry failed: " + error.message);
  }
  await refreshDead();
}

// -- lineage --------------------------------------------------------------------

async function showGraph(urn) {
  state.focus = urn;
  const graph = await api("/ui/api/lineage?urn=" + encodeURIComponent(urn));
  $("graph-focus").textContent = urn;
  $("graph-truncated").hidden = !graph.truncated;
  const elements = [
    ...graph.nodes.map((n) => ({ data: { id: n.id, label: n.label, kind: n.kind, focus: n.id === urn ? 1 : 0 } })),
    ...graph.edges.map((e) => ({ data: { id: e.id, source: e.source, target: e.target } })),
  ];
  if (window.cy) window.cy.destroy();
  window.cy = cytoscape({
    container: $("graph"), elements, wheelSensitivity: 0.3,
    layout: { name: "null" },
    style: [
      { selector: "node", style: { label: "data(label)", "font-size": 11, "text-valign": "bottom", "text-margin-y": 4,
        "background-color": "#4a7bd0", width: 18, height: 18 } },
      { selector: "node[kind = 'job']", style: { shape: "round-rectangle", "background-color": "#d08a2c", width: 26 } },
      { selector: "node[focus = 1]", style: { "border-width": 3, "border-color": "#222" } },
      { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
        "line-color": "#999", "target-arrow-color": "#999" } },
    ],
  });
  // Sources at the top: the layout's roots are the nodes nothing flows into.
  window.cy.layout({ name: "breadthfirst", directed: true, roots: window.cy.nodes().roots(), spacingFactor: 1.1,
                     padding: 20 }).run();
  window.cy.on("tap", "node", (event) => showGraph(event.target.id()));
  $("lineage").scrollIntoView();
}

// -- search ---------------------------------------------------------------------

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("search").value.trim();
  if (!text) { $("search-results").hidden = true; return; }
  const found = await api("/ui/api/search?q=" + encodeURIComponent(text));
  $("search-query").textContent = `“${found.query}”`;
  const items = [
    ...found.entities.map((e) => el("li", { class: "found-entity" }, e.kind + " ",
      el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); showGraph(e.urn); } }, e.label), " ",
      el("code", {}, e.urn))),
    ...found.runs.map((r) => el("li", { class: "found-run" }, "run ",
      el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); showRun(r.run_id); } }, r.run_id), ` of ${r.job} (${r.state})`)),
  ];
  $("search-list").replaceChildren(...(items.length ? items : [el("li", {}, "nothing found")]));
  $("search-results").hidden = false;
});

// -- start ----------------------------------------------------------------------

function every(ms, refresh) {
  setInterval(() => refresh().catch(report), ms);
}

function report(error) {
  if (!(error instanceof Unauthorized)) console.error(error);
}

let started = false;

async function start() {
  try {
    await refreshNow();
  } catch (error) {
    report(error);
    return;
  }
  $("login").hidden = true;
  $("content").hidden = false;
  $("logout").hidden = !state.token;
  await Promise.all([refreshRuns(), refreshDead()]).catch(report);
  if (!started) {
    started = true;
    every(NOW_EVERY_MS, refreshNow);
    every(LISTS_EVERY_MS, () => Promise.all([refreshRuns(), refreshDead()]));
  }
  document.body.dataset.ready = "1";
}

start();
