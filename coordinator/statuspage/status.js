// linkmesh status page: reads /api/v1/status every 5 s and draws it. Every
// value from the coordinator is set as text, never as HTML (probe names and
// details are other machines' words).
"use strict";

const POLL_MS = 5000;
const SYMBOL = { up: "✓", down: "✗", unknown: "?" };
const WORD = { up: "UP", down: "DOWN", unknown: "UNKNOWN" };
const open = new Set(); // ids of the paths whose details are open
let lastGood = null; // when the coordinator last answered
let failingSince = null;
let drawError = null; // the page could not draw the last answer

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fmtMs(v) {
  if (v === undefined || v === null) return "–";
  if (v >= 100) return v.toFixed(0) + " ms";
  if (v >= 1) return v.toFixed(1) + " ms";
  return v.toFixed(2) + " ms";
}
function fmtPct(v) { return v === undefined || v === null ? "–" : (v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1) + " %"; }
function fmtAge(s) {
  if (s === undefined || s === null) return "never";
  if (s < 0) s = 0;
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return (s / 3600).toFixed(1) + " h ago";
}
function fmtBps(b) {
  if (!b) return "";
  if (b >= 1e9) return (b / 1e9).toFixed(2) + " Gbit/s";
  if (b >= 1e6) return (b / 1e6).toFixed(1) + " Mbit/s";
  return (b / 1e3).toFixed(0) + " kbit/s";
}
function portLabel(p) { return p.port_end ? p.port + "–" + p.port_end : String(p.port); }

function stateBadge(state) {
  return h("span", { class: "badge " + state }, h("span", { class: "sym", "aria-hidden": "true", text: SYMBOL[state] || "?" }), " " + (WORD[state] || state));
}

// The strip of the latest attempts: one mark per attempt, oldest left; the
// shape says ok (filled) or not (a cross), the colour repeats it.
function strip(p) {
  const s = h("span", { class: "strip", role: "img", "aria-label": "latest " + (p.history || []).length + " attempts, oldest first: " + (p.history || []).map((m) => m.r).join(", ") });
  for (const m of p.history || []) {
    const ok = m.r === "ok" || (m.r === "refused" && p.port_end);
    s.append(h("span", { class: "mark " + (ok ? "ok" : "bad"), title: new Date(m.t).toLocaleTimeString() + " " + m.r + (m.rtt_ms ? " " + fmtMs(m.rtt_ms) : ""), text: ok ? "▮" : "✕" }));
  }
  if (!(p.history || []).length) s.append(h("span", { class: "none", text: "no attempts yet" }));
  return s;
}

function figures(p) {
  const w = p.window || {};
  const out = [];
  out.push(h("span", { class: "fig" }, "RTT p50 ", h("b", { text: fmtMs(w.rtt_p50_ms) }), " p99 ", h("b", { text: fmtMs(w.rtt_p99_ms) })));
  if (p.kind === "echo") {
    out.push(h("span", { class: "fig" }, "loss ", h("b", { text: fmtPct(w.loss_ratio) }), " jitter ", h("b", { text: fmtMs(w.jitter_ms) })));
  }
  out.push(h("span", { class: "fig" }, "failed ", h("b", { text: fmtPct(w.failure_ratio) })));
  if (p.mtu_bytes) out.push(h("span", { class: "fig" + (p.mtu_blackhole ? " warn" : "") }, "MTU ", h("b", { text: p.mtu_bytes + " B" }), p.mtu_blackhole ? " ⚠ black hole" : ""));
  if (p.throughput_bps) out.push(h("span", { class: "fig" }, h("b", { text: fmtBps(p.throughput_bps) }), p.seeding_100gb ? " · 100 GB seeds in " + p.seeding_100gb : ""));
  out.push(h("span", { class: "fig age" }, "last result " + fmtAge(p.age_s)));
  return out;
}

function fixBlock(f) {
  if (!f) return null;
  return h("div", { class: "fix" },
    h("p", {}, h("b", { text: "Fix (for the " + f.for + "): " }), f.summary),
    h("ol", {}, (f.steps || []).map((s) => h("li", {}, s.text, s.command ? h("pre", {}, h("code", { text: s.command })) : null))));
}

function pathRow(p) {
  const label = (p.role ? p.role.toUpperCase() + " · " : "") + p.source + " → " + p.target + ":" + portLabel(p) + " " + p.kind;
  const d = h("details", { class: "path " + p.state, "data-path-id": p.id, "data-path-state": p.state, open: open.has(p.id) },
    h("summary", {},
      stateBadge(p.state),
      h("span", { class: "name", text: label }),
      h("span", { class: "result", text: p.last_result ? p.last_result : "no result" }),
      strip(p)),
    h("div", { class: "body" },
      h("div", { class: "figs" }, figures(p)),
      p.unknown_reason ? h("p", { class: "why" }, h("b", { text: "Unknown: " }), p.unknown_reason) : null,
      p.last_explanation && p.last_result !== "" ? h("p", {}, h("b", { text: p.last_result + ": " }), p.last_explanation) : null,
      p.last_detail ? h("p", { class: "detail" }, h("b", { text: "Probe's words: " }), p.last_detail) : null,
      fixBlock(p.fix),
      p.doc ? h("p", { class: "doc" }, "More: docs/results.md#" + p.doc) : null));
  d.addEventListener("toggle", () => (d.open ? open.add(p.id) : open.delete(p.id)));
  return d;
}

const SIDE = { sql: "SQL Server", mi: "Managed Instance" };
function siteName(s) { return SIDE[s] ? SIDE[s] + " (" + s + ")" : s; }

// Site pairs, each with its two directions side by side; sql → mi first.
function pairs(paths) {
  const byPair = new Map();
  for (const p of paths) {
    const [a, b] = [p.source_site, p.target_site].sort((x, y) => (x === "sql" ? -1 : y === "sql" ? 1 : x < y ? -1 : x > y ? 1 : 0));
    const key = a + "\u0000" + b;
    if (!byPair.has(key)) byPair.set(key, { a, b, fwd: [], back: [] });
    const pr = byPair.get(key);
    (p.source_site === a ? pr.fwd : pr.back).push(p);
  }
  const out = [];
  for (const pr of byPair.values()) {
    const col = (from, to, list) => {
      const down = list.filter((p) => p.state === "down").length, up = list.filter((p) => p.state === "up").length;
      const tally = !list.length ? "no paths" : up === list.length ? "all " + up + " up" : down ? down + " of " + list.length + " down" : (list.length - up) + " of " + list.length + " unknown";
      return h("div", { class: "dir", "data-direction": from + "→" + to },
        h("h3", {}, siteName(from) + " → " + siteName(to), h("span", { class: "count", text: " · " + tally })),
        list.map(pathRow));
    };
    const same = pr.a === pr.b;
    const fDown = pr.fwd.some((p) => p.state === "down"), bDown = pr.back.some((p) => p.state === "down");
    const fUp = pr.fwd.length && pr.fwd.every((p) => p.state === "up"), bUp = pr.back.length && pr.back.every((p) => p.state === "up");
    let note = null;
    if (!same && ((fDown && bUp) || (bDown && fUp))) {
      const [bad, good] = fDown ? [pr.a + " → " + pr.b, pr.b + " → " + pr.a] : [pr.b + " → " + pr.a, pr.a + " → " + pr.b];
      note = h("p", { class: "asym", role: "note" }, h("b", { text: "⚠ One direction only: " }), bad + " fails while " + good + " works. Fix the rules for " + bad + "; do not open the working direction further.");
    }
    out.push(h("div", { class: "pair" }, note, h("div", { class: "dirs" + (same ? " one" : "") }, col(pr.a, pr.b, pr.fwd), same ? null : col(pr.b, pr.a, pr.back))));
  }
  if (!out.length) out.push(h("p", { class: "none", text: "No paths yet: no probe has a plan, or none has reported." }));
  return out;
}

const RANK = { down: 3, unknown: 2, up: 1 };
function matrix(st) {
  const probes = (st.probes || []).slice().sort((x, y) => (x.site + "\u0000" + x.name < y.site + "\u0000" + y.name ? -1 : 1));
  const targets = new Map(); // target name → site
  for (const p of st.paths || []) targets.set(p.target, p.target_site);
  const cols = [...targets.entries()].sort((x, y) => (x[1] + "\u0000" + x[0] < y[1] + "\u0000" + y[0] ? -1 : 1));
  const cell = new Map();
  for (const p of st.paths || []) {
    const k = p.source + "\u0000" + p.target;
    const c = cell.get(k) || { state: "up", n: 0, names: [] };
    if (RANK[p.state] > RANK[c.state]) c.state = p.state;
    c.n++;
    c.names.push(p.id + " " + WORD[p.state]);
    cell.set(k, c);
  }
  if (!probes.length || !cols.length) return h("p", { class: "none", text: "Nothing to show yet." });
  const t = h("table", { class: "matrix" });
  t.append(h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "source \\ target" }),
    cols.map(([name, site]) => h("th", { scope: "col", class: "col" }, h("span", { text: site + "/" + name }))))));
  const body = h("tbody");
  for (const pr of probes) {
    body.append(h("tr", {}, h("th", { scope: "row", text: pr.site + "/" + pr.name }),
      cols.map(([name]) => {
        const c = cell.get(pr.name + "\u0000" + name);
        if (!c) return h("td", { class: "empty", text: "·", "aria-label": "no path" });
        return h("td", { class: c.state, "data-cell-state": c.state, title: c.names.join("\n"), "aria-label": WORD[c.state] + ", " + c.n + " paths", text: SYMBOL[c.state] });
      })));
  }
  t.append(body);
  return h("div", { class: "scroll" }, t);
}

function probesTable(st) {
  if (!(st.probes || []).length) return h("p", { class: "none", text: "No probe has registered with this coordinator." });
  const gen = new Date(st.generated);
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["probe", "site", "state", "version", "os", "last report", "gossip", "gossip RTT", "backlog", "dropped"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, (st.probes || []).map((p) => h("tr", { "data-probe": p.name, "data-probe-state": p.up ? "up" : "down" },
      h("th", { scope: "row", text: p.name }), h("td", { text: p.site }), h("td", {}, stateBadge(p.up ? "up" : "down")),
      h("td", { text: p.version || "–" }), h("td", { text: p.os || "–" }),
      h("td", { text: p.last_report ? fmtAge((gen - new Date(p.last_report)) / 1000) : "never" }),
      h("td", { text: p.gossip || "–" }), h("td", { text: p.coordinator_rtt_ms ? fmtMs(p.coordinator_rtt_ms) : "–" }),
      h("td", { text: String(p.backlog) }), h("td", { text: String(p.dropped) }))))));
}

function roundsTable(st) {
  if (!(st.rounds || []).length) return h("p", { class: "none", text: "No check round has run on this coordinator since it started." });
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["round", "who", "when", "probes", "collection", "rows (latest result, all results)"].map((c) => h("th", { scope: "col", text: c })))),
    h("tbody", {}, (st.rounds || []).map((r) => h("tr", {},
      h("th", { scope: "row", text: r.id }), h("td", { text: r.caller }), h("td", { text: new Date(r.started).toLocaleString() }),
      h("td", { text: r.probe + " ↔ " + r.peer }), h("td", { text: r.outcome + " in " + (r.took_ns / 1e9).toFixed(1) + " s" }),
      h("td", {}, h("ul", { class: "rows" }, (r.rows || []).map((row) => h("li", {},
        row.role + " " + row.source + " → " + row.target + ": " + (row.latest || "no result") + " (" +
        Object.entries(row.results || {}).map(([k, v]) => v + " " + k).join(", ") + ")")))))))),
    h("p", { class: "hint", text: "The check's pass or fail is in the report of whoever ran it; here: what each target measured." }));
}

function render(st) {
  document.getElementById("coordinator").textContent = "· " + st.coordinator + " (" + st.version + ")";
  const s = st.summary;
  const idle = st.idle_rules || [];
  const verdict = s.down ? "down" : s.unknown || idle.length || !(st.paths || []).length ? "unknown" : "up";
  const summary = document.getElementById("summary");
  summary.replaceChildren(stateBadge(verdict), " " + s.up + " up · " + s.down + " down · " + s.unknown + " unknown · window " + st.window + " · as of " + new Date(st.generated).toLocaleTimeString());
  summary.dataset.verdict = verdict;
  const idleNote = idle.length ? h("div", { class: "asym", role: "note" }, h("b", { text: "? Rules that measure nothing: " }),
    "nothing proves what they should, so the mesh cannot read up.", h("ul", {}, idle.map((r) => h("li", { text: r.rule + ": " + r.why })))) : null;
  document.getElementById("pairs").replaceChildren(...[idleNote, ...pairs(st.paths || [])].filter(Boolean));
  document.getElementById("matrix").replaceChildren(matrix(st));
  document.getElementById("probes").replaceChildren(probesTable(st));
  document.getElementById("rounds").replaceChildren(roundsTable(st));
}

function showConn() {
  const c = document.getElementById("conn");
  if (drawError && !failingSince) {
    c.hidden = false;
    document.body.classList.add("stale");
    c.textContent = "⚠ This page could not draw the coordinator's answer (" + drawError + "); what you see may be out of date. linkmesh status or /api/v1/status shows it.";
    return;
  }
  if (!failingSince) {
    c.hidden = true;
    document.body.classList.remove("stale");
    return;
  }
  c.hidden = false;
  document.body.classList.add("stale");
  c.textContent = "⚠ The coordinator is not answering (since " + failingSince.toLocaleTimeString() + "). " +
    (lastGood ? "What you see is from " + lastGood.toLocaleTimeString() + " and may no longer be true." : "Nothing has been read yet.") + " Retrying every 5 s.";
}

async function poll() {
  let st = null;
  try {
    const r = await fetch("/api/v1/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    st = await r.json();
    lastGood = new Date();
    failingSince = null;
    drawError = null;
  } catch (e) {
    if (!failingSince) failingSince = new Date();
  }
  if (st) {
    try {
      render(st);
    } catch (e) {
      drawError = e; // the coordinator answered: say so, not "not answering"
    }
  }
  showConn();
  setTimeout(poll, POLL_MS);
}

poll();
