// The statetrail timeline component: one front end for the served page
// (http.js) and the notebook widget (model.js).
//
// mount(element, source) draws the timelines, the revision list with its
// branch graph, the slider, the state tree, the diff and blame into element.
// `source` is an adapter with async methods:
//   timelines()                      -> [{name, revisions, head, branches, last_change}]
//   revisions(name, filters)         -> revisions newest first (filters: before,
//                                       limit, author, path, label, since, until, branch)
//   revision(name, n)                -> one revision with its "value"
//   diff(name, a, b)                 -> {a, b, changes: RFC 6902 operations}
//   blame(name, path, at)            -> {path, revision or null}: who last
//                                       changed path on the lineage up to at
//   subscribe(name, after, callback) -> a function that stops the subscription
//   select(name, n)                  -> optional: told when a revision is shown
// This file imports nothing, so the widget can ship it as part of one module.

const PAGE = 100; // revisions per page of the list
const MAX_CHILDREN = 200; // children of one tree node drawn before "more"
const EAGER = 300; // tree nodes drawn open at once; deeper ones on opening
const LANE = 12; // px between branch lanes
const ROW = 26; // px, the height of a list row (timeline.css keeps it)
const FILTERS = ["author", "path", "label", "since", "until", "branch"];

/** An element: h("td", {class: "x"}, "text", child). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function svg(tag, attrs = {}) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

/** One JSON Pointer step (RFC 6901). */
export function escapeStep(step) {
  return String(step).replaceAll("~", "~0").replaceAll("/", "~1");
}

/** A JSON value in at most `max` characters. */
export function brief(value, max = 80) {
  let text;
  try {
    text = value === undefined ? "" : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

/** The changes of a revision in one line: "replace /a = 1; add /b = 2 (+3)". */
export function summarize(changes, max = 3) {
  if (changes === null || changes === undefined) return "erased";
  if (changes.length === 0) return "no change";
  const parts = changes.slice(0, max).map((op) => {
    const path = op.path === "" ? "(whole value)" : op.path;
    return op.op === "remove" ? `remove ${path}` : `${op.op} ${path} = ${brief(op.value, 40)}`;
  });
  const more = changes.length > max ? ` (+${changes.length - max} more)` : "";
  return parts.join("; ") + more;
}

/** "2026-12-07T21:31:44.993139Z" as "2026-12-07 21:31:44". */
export function shortTime(time) {
  return time ? time.replace("T", " ").replace(/\.\d+Z$/, "").replace(/Z$/, "") : "";
}

/** The last two steps of a file's path: "cli/demo.py". */
function shortFile(file) {
  return file ? file.split("/").slice(-2).join("/") : "?";
}

function origin(rev) {
  const o = rev.origin;
  if (!o) return "";
  const file = o.file ? o.file.split("/").pop() : "?";
  return `${file}:${o.line}${o.function ? " " + o.function : ""}`;
}

/** Whether a revision passes the filters (for revisions arriving live). */
export function matches(rev, filters) {
  if (filters.author && rev.author !== filters.author) return false;
  if (filters.label && rev.label !== filters.label) return false;
  if (filters.branch && rev.branch !== filters.branch) return false;
  if (filters.since && rev.time < filters.since.replace(/(\.\d+)?Z$/, "")) return false;
  if (filters.until && rev.time >= filters.until.replace(/(\.\d+)?Z$/, "")) return false;
  if (filters.path) {
    const p = filters.path;
    const touched = (rev.changes || []).some(
      (op) => op.path === p || op.path.startsWith(p + "/") || p.startsWith(op.path + "/") || op.path === "",
    );
    if (!touched) return false;
  }
  return true;
}

/**
 * Branch lanes for a list of revisions (newest first): for each row, what to
 * draw in its column of the graph.
 */
export function lanes(rows) {
  const order = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    if (!order.includes(rows[i].branch)) order.push(rows[i].branch);
  }
  const main = order.indexOf("main");
  if (main > 0) order.unshift(...order.splice(main, 1));
  const index = new Map(rows.map((r, i) => [r.number, i]));
  const spans = new Map(); // branch -> {top, bottom, fork, continues}
  rows.forEach((r, i) => {
    const s = spans.get(r.branch);
    if (s) s.bottom = i;
    else spans.set(r.branch, { top: i, bottom: i, fork: null, continues: false });
  });
  for (const [branch, s] of spans) {
    const oldest = rows[s.bottom];
    const parent = oldest.parents && oldest.parents.length ? oldest.parents[0] : null;
    if (parent === null) continue;
    const at = index.get(parent);
    if (at === undefined) s.continues = true;
    else if (rows[at].branch !== branch) s.fork = at;
  }
  const cells = rows.map((r) => ({ lane: order.indexOf(r.branch), lines: [], forks: [] }));
  for (const [branch, s] of spans) {
    const lane = order.indexOf(branch);
    const end = s.continues ? rows.length - 1 : s.fork !== null ? s.fork - 1 : s.bottom;
    for (let i = s.top; i <= end; i++) {
      const from = i === s.top ? 0.5 : 0;
      const to = i === s.bottom && s.fork === null && !s.continues ? 0.5 : 1;
      cells[i].lines.push({ lane, from, to });
    }
    if (s.fork !== null) cells[s.fork].forks.push({ lane, to: cells[s.fork].lane });
  }
  return { order, cells };
}

function graphCell(cell, width) {
  const box = svg("svg", { width, height: ROW, viewBox: `0 0 ${width} ${ROW}`, "aria-hidden": "true" });
  const x = (lane) => LANE / 2 + lane * LANE;
  for (const line of cell.lines) {
    box.append(
      svg("line", {
        x1: x(line.lane), x2: x(line.lane), y1: line.from * ROW, y2: line.to * ROW,
        class: `st-lane st-lane-${line.lane % 6}`,
      }),
    );
  }
  for (const fork of cell.forks) {
    const x1 = x(fork.lane);
    const x2 = x(fork.to);
    box.append(
      svg("path", {
        d: `M ${x1} 0 C ${x1} ${ROW / 2}, ${x2} ${ROW / 4}, ${x2} ${ROW / 2}`,
        class: `st-lane st-lane-${fork.lane % 6}`,
        fill: "none",
      }),
    );
  }
  box.append(svg("circle", { cx: x(cell.lane), cy: ROW / 2, r: 4, class: `st-dot st-lane-${cell.lane % 6}` }));
  return box;
}

/** Whether a JSON value is drawn as a leaf (a tagged value counts as one). */
function isLeaf(value) {
  if (value === null || typeof value !== "object") return true;
  return !Array.isArray(value) && typeof value.$t === "string" && "v" in value && Object.keys(value).length === 2;
}

function leafText(value) {
  if (value !== null && typeof value === "object") return `${value.$t} ${brief(value.v, 60)}`;
  return brief(value, 120);
}

function changedPaths(changes) {
  return new Set((changes || []).map((op) => op.path));
}

function touched(pointer, changed) {
  for (const p of changed) {
    if (p === pointer || pointer.startsWith(p + "/") || p.startsWith(pointer + "/")) return true;
  }
  return false;
}

/** Whether two JSON values are equal (object keys in the same order). */
export function sameJSON(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !sameJSON(a[ka[i]], b[kb[i]])) return false;
  }
  return true;
}

function entriesOf(val) {
  return Array.isArray(val) ? val.map((v, i) => [i, v]) : Object.entries(val);
}

/**
 * The state as nested <details>; leaves are buttons that ask for blame.
 *
 * With `previous` (the tree drawn for the revision shown before), that tree is
 * updated in place: a node whose keys are the same is kept and its children
 * updated, and only the rows whose value changed, or that are highlighted now
 * or were, are drawn again. A slider step then costs the DOM what the step
 * changed (rows a user opened stay open), not a new tree of hundreds of rows
 * to style and lay out: 35 ms of layout and 38 ms of style per step on the
 * 1,000-entry benchmark state became 1-4 ms each (Chromium, loaded machine).
 */
function tree(value, changed, onLeaf, previous = null) {
  let budget = EAGER; // nodes drawn open before the rest wait to be opened
  function node(key, val, pointer, depth) {
    const label = key === null ? "value" : key;
    if (isLeaf(val)) {
      const cls = touched(pointer, changed) ? "st-leaf st-changed" : "st-leaf";
      const li = h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: cls, "data-path": pointer, title: `Who last changed ${pointer || "the value"}?`, onclick: () => onLeaf(pointer) },
          h("span", { class: "st-key" }, label),
          ": ",
          h("span", { class: "st-val" }, leafText(val)),
        ),
      );
      li.stValue = val;
      return li;
    }
    const entries = entriesOf(val);
    const list = h("ul");
    const li = h("li");
    li.stValue = val;
    // The children drawn from the value the row holds now (updated in place).
    const fill = (count = MAX_CHILDREN) => {
      const all = entriesOf(li.stValue);
      const shown = all.slice(0, count);
      const rest = all.length - shown.length;
      list.replaceChildren(
        ...shown.map(([k, v]) => node(String(k), v, `${pointer}/${escapeStep(k)}`, depth + 1)),
        rest > 0
          ? h("li", { class: "st-more" }, h("button", { type: "button", onclick: () => fill(count + MAX_CHILDREN) }, `show ${Math.min(rest, MAX_CHILDREN)} more of ${rest}`))
          : "",
      );
    };
    const kind = Array.isArray(val) ? `[${entries.length}]` : `{${entries.length}}`;
    const hot = touched(pointer, changed);
    const open = hot || depth < 1 || (depth < 3 && entries.length <= 20 && budget > 0);
    budget -= open ? entries.length : 1;
    const box = h(
      "details",
      { open },
      h("summary", { class: hot ? "st-changed" : null, "data-path": pointer }, h("span", { class: "st-key" }, label), " ", h("span", { class: "st-kind" }, kind)),
      list,
    );
    // A closed node's children are drawn when it is first opened: a value of
    // thousands of entries costs what is on screen.
    if (open) fill();
    else box.addEventListener("toggle", () => box.open && !list.firstChild && fill());
    li.append(box);
    return li;
  }

  // Update `li` (drawn for `key` at `pointer`) to `val`; a new row if it cannot.
  function update(li, key, val, pointer, depth, was) {
    const before = li.stValue;
    const hotNow = touched(pointer, changed);
    const hotThen = touched(pointer, was);
    if (!hotNow && !hotThen && sameJSON(before, val)) {
      budget -= 1;
      return;
    }
    const box = li.firstElementChild;
    const list = box && box.tagName === "DETAILS" ? box.lastElementChild : null;
    const rows = list ? [...list.children].filter((c) => !c.classList.contains("st-more")) : [];
    const then = before !== undefined && !isLeaf(before) ? entriesOf(before) : null;
    const now = !isLeaf(val) ? entriesOf(val) : null;
    const sameKeys =
      then !== null && now !== null && Array.isArray(before) === Array.isArray(val) &&
      then.length === now.length && then.every(([k], i) => k === now[i][0]);
    if (!sameKeys || rows.length === 0 || rows.length > now.length) {
      li.replaceWith(node(key, val, pointer, depth));
      return;
    }
    li.stValue = val;
    budget -= now.length;
    const summary = box.firstElementChild;
    summary.classList.toggle("st-changed", hotNow);
    rows.forEach((row, i) => {
      const [k, v] = now[i];
      update(row, String(k), v, `${pointer}/${escapeStep(k)}`, depth + 1, was);
    });
  }

  const kept = previous && previous.stTree;
  const top = kept ? previous.firstElementChild : null;
  if (top) {
    update(top, null, value, "", 0, kept.changed);
    kept.changed = changed;
    return previous;
  }
  const el = h("ul", { class: "st-tree", "aria-label": "State" }, node(null, value, "", 0));
  el.stTree = { changed };
  return el;
}

function diffList(changes) {
  if (!changes || changes.length === 0) return h("p", { class: "st-empty" }, changes ? "No change." : "Erased.");
  const names = { add: "+", remove: "−", replace: "~" };
  return h(
    "ul",
    { class: "st-ops" },
    changes.map((op) =>
      h(
        "li",
        { class: `st-op st-${op.op}` },
        h("span", { class: "st-opname", title: op.op }, names[op.op] || op.op),
        " ",
        h("code", { class: "st-path" }, op.path === "" ? "(whole value)" : op.path),
        op.op === "remove" ? null : h("code", { class: "st-opvalue" }, brief(op.value, 200)),
      ),
    ),
  );
}

/** Draw the timeline component into `element`; returns {destroy, open, select}. */
export function mount(element, source) {
  const state = {
    timelines: [],
    name: null,
    filters: {},
    rows: [],
    exhausted: false,
    selected: null,
    max: -1,
    compare: null,
    unsubscribe: null,
    destroyed: false,
  };

  // -- the skeleton ----------------------------------------------------------------
  const status = h("p", { class: "st-status", role: "status", "aria-live": "polite" });
  const timelineBody = h("tbody");
  const nav = h(
    "nav",
    { class: "st-timelines", "aria-label": "Timelines" },
    h("h2", {}, "Timelines"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Revisions"), h("th", { scope: "col" }, "Branches"), h("th", { scope: "col" }, "Last change"))), timelineBody),
  );
  const field = (name, label, type = "text", extra = {}) =>
    h("label", { class: "st-field" }, label, h("input", { name, type, ...extra }));
  const filterForm = h(
    "form",
    { class: "st-filters", "aria-label": "Filters", role: "search" },
    field("author", "Author"),
    field("path", "Path", "text", { placeholder: "/json/pointer" }),
    field("label", "Label"),
    field("branch", "Branch"),
    field("since", "Since", "datetime-local", { step: 1 }),
    field("until", "Until", "datetime-local", { step: 1 }),
    h("button", { type: "submit" }, "Filter"),
    h("button", { type: "reset" }, "Clear"),
  );
  const slider = h("input", { type: "range", class: "st-slider", min: 0, max: 0, value: 0, step: 1, "aria-label": "Revision", disabled: true });
  const position = h("output", { class: "st-position" });
  const prev = h("button", { type: "button", "aria-label": "Previous revision", title: "Previous revision (←)" }, "←");
  const next = h("button", { type: "button", "aria-label": "Next revision", title: "Next revision (→)" }, "→");
  const scrub = h("section", { class: "st-scrub", "aria-label": "Scrub" }, prev, slider, next, position);
  const listBody = h("tbody");
  const more = h("button", { type: "button", class: "st-older", hidden: true }, "Older revisions");
  const heads = ["", "#", "Time", "Author", "Comment", "Label", "Kind", "Changes", "Origin"];
  const list = h(
    "section",
    { class: "st-list", "aria-label": "Revisions" },
    h("h2", {}, "Revisions"),
    h("div", { class: "st-scroll" }, h("table", { class: "st-revisions" }, h("thead", {}, h("tr", {}, heads.map((t) => h("th", { scope: "col" }, t)))), listBody), more),
  );
  const stateTitle = h("h2", {}, "State");
  const stateBody = h("div", { class: "st-state-body" });
  const compareInput = h("input", { type: "number", min: 0, name: "against", placeholder: "previous", class: "st-against" });
  const diffTitle = h("h2", {}, "Diff");
  const diffBody = h("div", { class: "st-diff-body" });
  const blameBody = h("div", { class: "st-blame-body" }, h("p", { class: "st-empty" }, "Click a leaf of the state to see who last changed it."));
  const detail = h(
    "div",
    { class: "st-detail" },
    h("section", { class: "st-state", "aria-label": "State" }, stateTitle, stateBody),
    h(
      "section",
      { class: "st-diff", "aria-label": "Diff" },
      diffTitle,
      h("form", { class: "st-compare" }, h("label", {}, "Against revision ", compareInput), h("button", { type: "submit" }, "Compare")),
      diffBody,
    ),
    h("section", { class: "st-blame", "aria-label": "Blame" }, h("h2", {}, "Blame"), blameBody),
  );
  const root = h(
    "div",
    { class: "st-root" },
    h("header", { class: "st-bar" }, h("h1", {}, "statetrail"), status),
    h("div", { class: "st-body" }, nav, h("main", { class: "st-main" }, filterForm, scrub, list, detail)),
  );
  element.replaceChildren(root);

  const say = (text) => {
    status.textContent = text;
  };
  const fail = (err) => say(`Error: ${err && err.message ? err.message : err}`);

  // -- timelines -------------------------------------------------------------------
  function drawTimelines() {
    timelineBody.replaceChildren(
      ...state.timelines.map((t) =>
        h(
          "tr",
          { class: t.name === state.name ? "st-current" : null },
          h("th", { scope: "row" }, h("button", { type: "button", class: "st-open", "aria-current": t.name === state.name ? "true" : null, onclick: () => open(t.name) }, t.name)),
          h("td", { class: "st-num" }, t.revisions),
          h("td", {}, (t.branches || []).join(", ")),
          h("td", { class: "st-when" }, t.last_change ? h("time", { datetime: t.last_change }, ...shortTime(t.last_change).split(" ").flatMap((part, i) => (i ? [h("br"), part] : [part]))) : ""),
        ),
      ),
    );
  }

  async function loadTimelines() {
    state.timelines = await source.timelines();
    drawTimelines();
  }

  // -- the list --------------------------------------------------------------------
  function drawList() {
    const { order, cells } = lanes(state.rows);
    const width = Math.max(1, order.length) * LANE;
    listBody.replaceChildren(
      ...state.rows.map((rev, i) =>
        h(
          "tr",
          { "data-number": rev.number, class: rev.number === state.selected ? "st-selected" : null, "aria-current": rev.number === state.selected ? "true" : null },
          h("td", { class: "st-graph", title: rev.branch }, graphCell(cells[i], width)),
          h("td", { class: "st-num" }, h("button", { type: "button", class: "st-pick", onclick: () => select(rev.number, true) }, `#${rev.number}`)),
          h("td", { class: "st-time" }, h("time", { datetime: rev.time }, shortTime(rev.time))),
          h("td", { class: "st-author" }, rev.author ?? ""),
          h("td", { class: "st-comment", title: rev.comment ?? "" }, rev.comment ?? ""),
          h("td", { class: "st-label" }, rev.label ?? ""),
          h("td", { class: "st-kindcell" }, rev.kind),
          h("td", { class: "st-summary", title: summarize(rev.changes, 20) }, summarize(rev.changes)),
          h("td", { class: "st-origin", title: rev.origin ? `${rev.origin.file}:${rev.origin.line}` : "" }, origin(rev)),
        ),
      ),
    );
    more.hidden = state.exhausted;
  }

  async function loadOlder() {
    if (state.exhausted || !state.name) return false;
    const name = state.name;
    const filters = { ...state.filters, limit: PAGE };
    if (state.rows.length) filters.before = state.rows[state.rows.length - 1].number;
    const page = await source.revisions(name, filters);
    if (name !== state.name) return false;
    const known = new Set(state.rows.map((r) => r.number));
    state.rows.push(...page.filter((r) => !known.has(r.number)));
    state.exhausted = page.length < PAGE;
    drawList();
    return page.length > 0;
  }

  function noteMax(n) {
    if (n > state.max) {
      state.max = n;
      slider.max = String(n);
    }
    slider.disabled = state.max < 0;
  }

  // -- selection -------------------------------------------------------------------
  function markSelected() {
    for (const row of listBody.children) {
      const on = Number(row.dataset.number) === state.selected;
      row.classList.toggle("st-selected", on);
      if (on) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
      if (on) row.scrollIntoView({ block: "nearest" });
    }
  }

  // One value fetch at a time: steps taken while one is on its way collapse
  // into one fetch of the newest selection when it is back (a drag across a
  // long history never queues a request per step).
  let fetching = false;
  let wanted = false;

  function fetchSelected() {
    wanted = true;
    if (!fetching) pump();
  }

  async function pump() {
    fetching = true;
    try {
      while (wanted && !state.destroyed) {
        wanted = false;
        await show(state.name, state.selected);
      }
    } finally {
      fetching = false;
    }
  }

  async function show(name, n) {
    const current = () => name === state.name && n === state.selected && !state.destroyed;
    try {
      const rev = await source.revision(name, n);
      let changes = rev.changes;
      let against = rev.parents && rev.parents.length ? `#${rev.parents[0]}` : "nothing (first revision)";
      if (state.compare !== null && state.compare !== n) {
        const d = await source.diff(name, state.compare, n);
        changes = d.changes;
        against = `#${d.a}`;
      }
      if (!current()) return;
      stateTitle.textContent = `State at #${n}`;
      const meta = h("p", { class: "st-meta" }, `${shortTime(rev.time)} · ${rev.author ?? "no author"} · ${rev.branch}${rev.comment ? " · " + rev.comment : ""}`);
      const shown = stateBody.querySelector(":scope > .st-tree");
      const drawn = rev.changes === null ? h("p", { class: "st-empty" }, "This revision was erased.") : tree(rev.value, changedPaths(changes), blame, shown);
      if (drawn === shown) {
        // Updated in place: only the line above it is new (moving the tree
        // would style and lay it out again).
        stateBody.querySelector(":scope > .st-meta")?.replaceWith(meta);
      } else {
        stateBody.replaceChildren(meta, drawn);
      }
      diffTitle.textContent = `Diff of #${n} against ${against}`;
      diffBody.replaceChildren(diffList(changes));
      say(`Revision #${n}`);
      if (source.select) source.select(name, n);
    } catch (err) {
      if (!current()) return;
      stateTitle.textContent = `State at #${n}`;
      stateBody.replaceChildren(h("p", { class: "st-error" }, err.message || String(err)));
      diffBody.replaceChildren();
    }
  }

  function select(n, now = false) {
    if (n === null || n < 0 || n > state.max) return;
    state.selected = n;
    slider.value = String(n);
    slider.setAttribute("aria-valuetext", `revision ${n}`);
    position.textContent = `#${n} of ${state.max}`;
    markSelected();
    fetchSelected();
    if (now) slider.focus();
  }

  function filtered() {
    return Object.keys(state.filters).length > 0;
  }

  async function step(delta) {
    if (state.selected === null) return;
    if (!filtered()) {
      select(Math.min(state.max, Math.max(0, state.selected + delta)));
      return;
    }
    let i = state.rows.findIndex((r) => r.number === state.selected);
    i = i < 0 ? 0 : i - delta; // the list is newest first
    if (i >= state.rows.length && (await loadOlder())) i = Math.min(i, state.rows.length - 1);
    i = Math.max(0, Math.min(state.rows.length - 1, i));
    if (state.rows[i]) select(state.rows[i].number);
  }

  // -- blame -----------------------------------------------------------------------
  async function blame(pointer) {
    blameBody.replaceChildren(h("p", {}, `Asking who changed ${pointer || "the value"}…`));
    try {
      const at = state.selected;
      const result = await source.blame(state.name, pointer, at);
      const rev = result.revision;
      if (!rev) {
        blameBody.replaceChildren(h("p", { class: "st-empty" }, `${pointer} is not in the value of #${at}.`));
        return;
      }
      blameBody.replaceChildren(
        h(
          "dl",
          { class: "st-blamed" },
          h("dt", {}, "Path"), h("dd", {}, h("code", {}, pointer || "(whole value)")),
          h("dt", {}, "Revision"), h("dd", {}, h("button", { type: "button", class: "st-pick", onclick: () => select(rev.number, true) }, `#${rev.number}`)),
          h("dt", {}, "Who"), h("dd", { class: "st-blame-author" }, rev.author ?? "no author"),
          h("dt", {}, "When"), h("dd", {}, h("time", { datetime: rev.time }, shortTime(rev.time))),
          h("dt", {}, "Why"), h("dd", {}, rev.comment ?? "no comment"),
          h("dt", {}, "Where"), h("dd", { title: rev.origin ? rev.origin.file : null }, rev.origin ? `${shortFile(rev.origin.file)}:${rev.origin.line} in ${rev.origin.function}` : "not captured"),
        ),
      );
    } catch (err) {
      blameBody.replaceChildren(h("p", { class: "st-error" }, err.message || String(err)));
    }
  }

  // -- live ------------------------------------------------------------------------
  function arrived(rev) {
    if (rev.timeline !== undefined && rev.timeline !== state.name) return;
    if (state.rows.some((r) => r.number === rev.number)) return;
    const following = state.selected === state.max;
    noteMax(rev.number);
    if (matches(rev, state.filters)) {
      const at = state.rows.findIndex((r) => r.number < rev.number);
      state.rows.splice(at < 0 ? state.rows.length : at, 0, rev);
      drawList();
    }
    const t = state.timelines.find((x) => x.name === state.name);
    if (t) {
      t.revisions += 1;
      t.head = rev.number;
      t.last_change = rev.time;
      if (!(t.branches || []).includes(rev.branch)) t.branches = [...(t.branches || []), rev.branch];
      drawTimelines();
    }
    say(`New revision #${rev.number}${rev.author ? " by " + rev.author : ""}`);
    if (following) select(rev.number);
    else position.textContent = `#${state.selected} of ${state.max}`;
  }

  // -- opening a timeline ------------------------------------------------------------
  async function open(name) {
    if (state.unsubscribe) state.unsubscribe();
    state.unsubscribe = null;
    state.name = name;
    state.rows = [];
    state.exhausted = false;
    state.selected = null;
    state.max = -1;
    state.compare = null;
    compareInput.value = "";
    drawTimelines();
    say(`Loading ${name}…`);
    try {
      const t = state.timelines.find((x) => x.name === name);
      const head = t && typeof t.head === "number" ? t.head : -1;
      // The newest value is asked for while the first page of the list loads.
      if (head >= 0) {
        noteMax(head);
        select(head);
      }
      await loadOlder();
      if (name !== state.name) return;
      const newest = state.rows.length ? state.rows[0].number : -1;
      if (newest > state.max) {
        noteMax(newest);
        select(newest);
      }
      markSelected();
      state.unsubscribe = source.subscribe(name, state.max, arrived);
      if (state.max < 0) say(`${name} has no revisions.`);
    } catch (err) {
      fail(err);
    }
  }

  async function refilter() {
    const data = new FormData(filterForm);
    const filters = {};
    for (const key of FILTERS) {
      let value = String(data.get(key) || "").trim();
      if (!value) continue;
      if (key === "since" || key === "until") value = new Date(value).toISOString();
      filters[key] = value;
    }
    state.filters = filters;
    state.rows = [];
    state.exhausted = false;
    try {
      await loadOlder();
      say(filtered() ? `${state.rows.length}${state.exhausted ? "" : "+"} matching revisions` : "Filters cleared");
      if (state.rows.length && !state.rows.some((r) => r.number === state.selected)) select(state.rows[0].number);
      else markSelected();
    } catch (err) {
      fail(err);
    }
  }

  // -- events ----------------------------------------------------------------------
  filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    refilter();
  });
  filterForm.addEventListener("reset", () => setTimeout(refilter, 0));
  slider.addEventListener("input", () => select(Number(slider.value)));
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  more.addEventListener("click", () => loadOlder().catch(fail));
  detail.querySelector(".st-compare").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = compareInput.value.trim();
    state.compare = v === "" ? null : Number(v);
    fetchSelected();
  });
  root.addEventListener("keydown", (e) => {
    const tag = e.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (e.key === "ArrowLeft") step(-1);
    else if (e.key === "ArrowRight") step(1);
    else return;
    e.preventDefault();
  });

  loadTimelines()
    .then(() => {
      if (state.timelines.length) open(state.timelines[0].name);
      else say("No timelines.");
    })
    .catch(fail);

  return {
    open,
    select,
    destroy() {
      state.destroyed = true;
      if (state.unsubscribe) state.unsubscribe();
      element.replaceChildren();
    },
  };
}
