// The local console: polls the local server's JSON every second and renders seven panels.
"use strict";

const POLL_MS = 1000;
const rendered = {}; // panel -> the JSON it was last rendered from, so unchanged panels keep their DOM
let clockNow = "";
let pendingSchedules = [];
let busEvents = [];
let refreshesStarted = 0;
let refreshRendered = 0;
let accountRequests = 0;
let accountRendered = 0;
let shownAccount = null;
let selectedDelivery = null;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    node.append(child instanceof Node ? child : String(child ?? ""));
  }
  return node;
}

function text(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function pretty(value) {
  return el("pre", {}, JSON.stringify(value, null, 2));
}

async function call(method, path, body) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const raw = await response.text();
  try {
    return { status: response.status, data: JSON.parse(raw) };
  } catch {
    return { status: response.status, data: raw };
  }
}

function changed(panel, data) {
  const json = JSON.stringify(data);
  if (rendered[panel] === json) return false;
  rendered[panel] = json;
  return true;
}

function say(id, message, failed = false) {
  const node = document.getElementById(id);
  node.textContent = message;
  node.classList.toggle("failed", failed);
}

// Clock

function renderClock(clock) {
  clockNow = clock.now;
  document.getElementById("clock-now").textContent = clock.now;
}

async function moveClock(request, label) {
  const buttons = document.querySelectorAll("#clock button");
  buttons.forEach((button) => (button.disabled = true));
  say("clock-message", `${label}…`);
  try {
    const { status, data } = await call("POST", "/_local/clock", request);
    if (status === 200) say("clock-message", `${label}: now ${data.now}`);
    else say("clock-message", `${label}: ${data.message}`, true);
    await refresh(); // so that "next schedule" is never computed from the schedules of the old time
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

function nextDue() {
  // A schedule already due fires within a second anyway; going back to it would move the clock back.
  const dues = pendingSchedules.map((schedule) => schedule.due).filter((due) => due && due > clockNow);
  return dues.sort()[0] || null;
}

// Deliveries

function describeChange(change) {
  return Object.entries(change).map(([name, [before, after]]) =>
    el("div", {}, `${name}: ${text(before)} → ${text(after)}`),
  );
}

function renderDeliveries(deliveries) {
  if (!changed("deliveries", deliveries)) return;
  const rows = deliveries.map((delivery) =>
    el(
      "tr",
      {
        "data-delivery": delivery.number,
        "data-outcome": delivery.outcome,
        class: [delivery.status === 200 ? "ok" : "failed", delivery.number === selectedDelivery ? "selected" : ""]
          .join(" ")
          .trim(),
        onclick: () => showDelivery(delivery.number),
      },
      el("td", {}, delivery.number),
      el("td", { class: "time" }, delivery.time),
      el("td", { class: "provider" }, delivery.provider),
      el("td", { class: "event-type" }, text(delivery.event_type)),
      el("td", { class: "event-id" }, text(delivery.event_id)),
      el("td", { class: "account" }, accountLink(delivery.account_id)),
      el(
        "td",
        { class: "answer", title: delivery.message || "" },
        `${delivery.status} ${delivery.outcome}`,
        delivery.message ? el("small", {}, ` (${delivery.message})`) : "",
      ),
      el("td", { class: "change" }, describeChange(delivery.change)),
    ),
  );
  document.getElementById("deliveries-rows").replaceChildren(...rows);
}

function accountLink(accountId) {
  if (!accountId) return "—";
  return el(
    "a",
    {
      href: "#accounts",
      onclick: (event) => {
        event.stopPropagation();
        showAccount(accountId);
      },
    },
    accountId,
  );
}

async function showDelivery(number) {
  selectedDelivery = number;
  document
    .querySelectorAll("#deliveries-rows tr")
    .forEach((row) => row.classList.toggle("selected", row.dataset.delivery === String(number)));
  const { status, data } = await call("GET", `/_local/api/deliveries/${number}`);
  const pane = document.getElementById("delivery-details");
  pane.hidden = false;
  if (status !== 200) {
    pane.replaceChildren(el("p", { class: "failed" }, data.message));
    return;
  }
  pane.replaceChildren(
    el(
      "h3",
      {},
      `#${data.number} ${data.provider} ${text(data.event_type)} ${text(data.event_id)}: ${data.status} ${data.outcome}`,
    ),
    el(
      "div",
      { class: "columns" },
      el("div", { "data-testid": "delivery-before" }, el("h4", {}, "entitlement before"), pretty(data.before)),
      el("div", { "data-testid": "delivery-after" }, el("h4", {}, "entitlement after"), pretty(data.after)),
      el("div", { "data-testid": "delivery-payload" }, el("h4", {}, "payload (redacted)"), pretty(data.payload)),
    ),
  );
}

// Accounts

async function showAccount(query) {
  shownAccount = query;
  document.getElementById("account-query").value = query;
  delete rendered.account;
  await refreshAccount();
}

async function refreshAccount() {
  if (!shownAccount) return;
  const number = ++accountRequests;
  const { status, data } = await call("GET", `/_local/api/accounts?q=${encodeURIComponent(shownAccount)}`);
  if (number < accountRendered || !changed("account", data)) return;
  accountRendered = number;
  const view = document.getElementById("account-view");
  if (status !== 200) {
    view.replaceChildren(el("p", { class: "failed" }, data.message));
    return;
  }
  const account = data.account || {};
  view.replaceChildren(
    el("p", { class: "hint" }, `${data.query} is ${data.matched_by === "account" ? "an account" : `the ${data.matched_by} of ${account.account_id}`}`),
    el(
      "dl",
      { "data-testid": "account-entitlement" },
      Object.entries(account).map(([name, value]) => [
        el("dt", {}, name),
        el("dd", { "data-field": name }, text(value)),
      ]),
    ),
    el("h3", {}, "entitlement history"),
    table(
      ["time", "old", "new", "reason", "cause"],
      data.history.map((change) => [
        change.time,
        describeEntitlement(change.old),
        describeEntitlement(change.new),
        text(change.reason),
        change.cause ? el("span", { title: change.cause.event_type }, change.cause.event_id) : "—",
      ]),
      "account-history",
    ),
    el("h3", {}, "open checkout sessions"),
    table(
      ["price", "session", "expires at"],
      data.checkouts.map((checkout) => [checkout.price_id, text(checkout.session_id), checkout.expires_at]),
      "account-checkouts",
    ),
    el("h3", {}, "charges"),
    table(
      ["charge key", "status", "amount", "next attempt", "attempts"],
      data.charges.map((charge) => [
        charge.charge_key,
        charge.status,
        `${charge.amount} ${text(charge.currency)}`,
        text(charge.next_attempt_at),
        charge.attempts
          .map((a) => `#${a.number} ${a.started_at} ${text(a.outcome)}${a.error_code ? ` ${a.error_code}` : ""}`)
          .join("; "),
      ]),
      "account-charges",
    ),
  );
}

function describeEntitlement(entitlement) {
  if (!entitlement) return "—";
  return `${text(entitlement.plan)} · ${entitlement.status} · access ${entitlement.access}`;
}

function table(headings, rows, testid) {
  if (!rows.length) return el("p", { class: "hint", "data-testid": testid }, "none");
  return el(
    "table",
    { "data-testid": testid },
    el("thead", {}, el("tr", {}, headings.map((heading) => el("th", {}, heading)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", {}, cell))))),
  );
}

// Schedules

function renderSchedules(schedules) {
  pendingSchedules = schedules.pending;
  if (!changed("schedules", schedules)) return;
  const pending = [...schedules.pending]
    .sort((a, b) => (a.due || "~").localeCompare(b.due || "~"))
    .map((schedule) =>
      el(
        "tr",
        { "data-schedule": schedule.name },
        el("td", { class: "time" }, text(schedule.due)),
        el("td", { title: schedule.expression }, `${schedule.group}/${schedule.name}`),
        el("td", {}, functionName(schedule.target)),
        el("td", { class: "input" }, text(schedule.input)),
      ),
    );
  const fired = [...schedules.fired].reverse().map((firing) =>
    el(
      "tr",
      { "data-schedule": firing.name, "data-outcome": firing.outcome, class: firing.outcome === "ok" ? "ok" : "failed" },
      el("td", { class: "time" }, firing.fired_at),
      el("td", {}, `${firing.group}/${firing.name}`),
      el("td", {}, functionName(firing.target)),
      el("td", { class: "outcome" }, firing.outcome),
    ),
  );
  document.getElementById("schedules-pending").replaceChildren(...pending);
  document.getElementById("schedules-fired").replaceChildren(...fired);
}

function functionName(arn) {
  return arn.split(":").pop();
}

// Runs

function counted(outcomes, ...names) {
  return names.reduce((sum, name) => sum + (outcomes[name] || 0), 0);
}

function renderRuns(runs) {
  if (!changed("runs", runs)) return;
  const rows = runs.map((run) =>
    el(
      "tr",
      {
        "data-run": run.number,
        "data-kind": run.kind,
        class: run.error ? "failed" : "ok",
        title: JSON.stringify(run.summary),
      },
      el("td", { class: "run" }, run.kind, run.run_id ? el("small", {}, ` ${run.run_id}`) : ""),
      el("td", { class: "time" }, run.time),
      el("td", { class: "pages" }, text(run.pages)),
      el("td", { class: "objects", title: text(run.outcomes) }, run.objects),
      el("td", { class: "applied" }, counted(run.outcomes, "applied")),
      el("td", { class: "unchanged" }, counted(run.outcomes, "unchanged")),
      el("td", { class: "duplicate-stale" }, counted(run.outcomes, "duplicate", "stale")),
      el("td", { class: "outcome" }, text(run.error)),
    ),
  );
  document.getElementById("runs-rows").replaceChildren(...rows);
}

async function backfill() {
  const button = document.getElementById("backfill");
  button.disabled = true;
  say("backfill-result", "backfilling…");
  try {
    const { status, data } = await call("POST", "/_local/backfill", { provider: "stripe" });
    if (status === 200) {
      const state = data.finished ? "finished" : `stopped: ${data.stopped}`;
      const pages = `${data.pages} page${data.pages === 1 ? "" : "s"}`;
      say("backfill-result", `${data.objects} objects, ${pages}, ${state}`, !data.finished);
    } else say("backfill-result", `${status} ${data.message}`, true);
    await refresh();
  } finally {
    button.disabled = false;
  }
}

// Bus

function renderBus(events) {
  busEvents = events;
  const filter = document.getElementById("bus-filter").value.trim().toLowerCase();
  if (!changed("bus", { events, filter })) return;
  const rows = [...events]
    .reverse()
    .filter((event) => !filter || `${event.detail_type} ${JSON.stringify(event.detail)}`.toLowerCase().includes(filter))
    .map((event) =>
      el(
        "tr",
        { "data-detail-type": event.detail_type },
        el("td", { class: "time" }, event.time),
        el("td", { class: "detail-type" }, event.detail_type),
        el("td", {}, accountLink(event.detail.account_id)),
        el("td", { class: "input" }, text(event.detail)),
      ),
    );
  document.getElementById("bus-rows").replaceChildren(...rows);
}

// Send

async function loadSamples() {
  const { data } = await call("GET", "/_local/api/samples");
  const groups = {};
  for (const file of data) (groups[file.split("/")[0]] ||= []).push(file);
  document.getElementById("send-file").replaceChildren(
    ...Object.entries(groups).map(([provider, files]) =>
      el("optgroup", { label: provider }, files.map((file) => el("option", { value: file }, file))),
    ),
  );
}

async function send(mode) {
  const request = { mode };
  if (mode === "new") {
    const pasted = document.getElementById("send-payload").value.trim();
    if (pasted) {
      try {
        request.payload = JSON.parse(pasted);
      } catch (error) {
        say("send-result", `the pasted payload is not JSON: ${error.message}`, true);
        return;
      }
    } else {
      request.file = document.getElementById("send-file").value;
    }
    request.account_id = document.getElementById("send-account").value.trim() || null;
  }
  say("send-result", "sending…");
  const { status, data } = await call("POST", "/_local/api/send", request);
  if (status !== 200) {
    say("send-result", data.message, true);
    return;
  }
  const answer = typeof data.answer === "object" ? data.answer.outcome || data.answer.error : data.answer;
  say("send-result", `${data.type} ${data.event_id} → ${data.status} ${answer}`, data.status !== 200);
  if (mode === "new" && request.account_id) await showAccount(request.account_id);
  await refresh();
}

// Polling

async function refresh() {
  const number = ++refreshesStarted;
  const [clock, deliveries, schedules, runs, events] = await Promise.all([
    call("GET", "/_local/clock"),
    call("GET", "/_local/api/deliveries"),
    call("GET", "/_local/schedules"),
    call("GET", "/_local/api/runs"),
    call("GET", "/_local/events"),
  ]);
  if (number < refreshRendered) return; // a later refresh (after a clock move or a send) already rendered
  refreshRendered = number;
  renderClock(clock.data);
  renderDeliveries(deliveries.data);
  renderSchedules(schedules.data);
  renderRuns(runs.data);
  renderBus(events.data);
  await refreshAccount();
}

async function poll() {
  try {
    await refresh();
    document.body.classList.remove("offline");
  } catch {
    document.body.classList.add("offline"); // make dev stopped; keep trying
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-advance]").forEach((button) =>
    button.addEventListener("click", () =>
      moveClock({ advance_seconds: Number(button.dataset.advance) }, button.textContent),
    ),
  );
  document.getElementById("advance-next").addEventListener("click", () => {
    const due = nextDue();
    if (due) moveClock({ now: due }, "next schedule");
    else say("clock-message", "no pending schedule", true);
  });
  document.getElementById("clock-set").addEventListener("submit", (event) => {
    event.preventDefault();
    const now = document.getElementById("clock-set-input").value.trim();
    moveClock({ now }, `set to ${now}`);
  });
  document.getElementById("account-search").addEventListener("submit", (event) => {
    event.preventDefault();
    showAccount(document.getElementById("account-query").value.trim());
  });
  document.getElementById("bus-filter").addEventListener("input", () => renderBus(busEvents));
  document.getElementById("backfill").addEventListener("click", backfill);
  document.getElementById("send-new").addEventListener("click", () => send("new"));
  document.getElementById("send-again").addEventListener("click", () => send("again"));
  document.getElementById("send-older").addEventListener("click", () => send("older"));
  loadSamples();
  poll();
});
