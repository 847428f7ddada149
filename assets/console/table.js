// A table over one of the API's collections, paged, sorted and filtered by the server
// (never a whole collection in the browser). Its state lives in the view's query
// (deep links), and `reload()` fetches the page again and patches rows in place by id:
// new rows appear where the sort puts them, changed cells flash, nothing jumps.

import { get, query as qs } from "./api.js";
import { h, clear, failure, empty, count } from "./ui.js";

const PAGE_SIZES = [25, 50, 100, 200];

/** Escapes text for the API's `=~ /…/` filter. */
export function regexText(text) {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

/** Quotes a filter value. */
export function quoted(text) {
  return `"${String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * opts: {path (e.g. "/api/container_groups"), columns: [{key, label, sort?, value(row)->Node|text}],
 *        attributes: [...], params(query) -> extra API params, filters(query) -> ["…"],
 *        href(row) -> "#/…" (or null: the row opens nothing), query, setQuery, label,
 *        defaultSort, defaultOrder ("asc"), then: [[key, "asc"|"desc"]] (sort keys after the
 *        user's, e.g. newest first among equal statuses), rowClass(row) -> "…"}
 */
export function serverTable(opts) {
  const q = opts.query;
  const state = {
    sort: q.get("sort") || opts.defaultSort || "name",
    order: q.get("order") === "desc" || (!q.get("order") && opts.defaultOrder === "desc") ? "desc" : "asc",
    offset: Math.max(0, parseInt(q.get("offset") || "0", 10) || 0),
    limit: PAGE_SIZES.includes(parseInt(q.get("limit"), 10)) ? parseInt(q.get("limit"), 10) : 50,
  };
  const rows = new Map(); // id -> tr
  const tbody = h("tbody");
  const status = h("div", { class: "table-status", "aria-live": "polite" });
  const pager = h("div", { class: "pager" });
  const head = h("tr");
  const table = h("table", { class: "data", "aria-label": opts.label || "list" }, h("thead", {}, head), tbody);
  const element = h("div", { class: "table-wrap" }, status, h("div", { class: "scroll" }, table), pager);
  let inflight = null;
  let again = false;
  let total = null;

  function headers() {
    clear(
      head,
      opts.columns.map((c) => {
        const sorted = state.sort === c.key;
        const th = h("th", { scope: "col", "aria-sort": sorted ? (state.order === "asc" ? "ascending" : "descending") : null });
        if (c.sort === false) return clear(th, c.label);
        return clear(
          th,
          h(
            "button",
            {
              type: "button",
              class: "sort",
              onclick: () => {
                state.order = sorted && state.order === "asc" ? "desc" : "asc";
                state.sort = c.key;
                state.offset = 0;
                opts.setQuery({ sort: state.sort, order: state.order, offset: null });
                headers();
                reload(true);
              },
            },
            c.label,
            sorted ? (state.order === "asc" ? " ▲" : " ▼") : "",
          ),
        );
      }),
    );
  }

  function cell(c, row) {
    const v = c.value ? c.value(row) : row[c.key];
    return h("td", {}, v === undefined || v === null || v === "" ? h("span", { class: "muted" }, "—") : v);
  }

  function build(row) {
    const tr = h("tr", { tabindex: "-1", dataset: { id: row.id }, class: opts.rowClass ? opts.rowClass(row) : null });
    tr.replaceChildren(...opts.columns.map((c) => cell(c, row)));
    const target = opts.href(row);
    if (!target) tr.classList.add("inert");
    tr.addEventListener("click", (e) => {
      if (!target || e.target.closest("a,button,input,select")) return;
      location.hash = target.slice(1);
    });
    return tr;
  }

  function patch(tr, row) {
    if (opts.rowClass) {
      const inert = tr.classList.contains("inert");
      tr.className = opts.rowClass(row) || "";
      if (inert) tr.classList.add("inert");
    }
    const fresh = opts.columns.map((c) => cell(c, row));
    let changed = false;
    fresh.forEach((td, i) => {
      const old = tr.children[i];
      if (!old || old.textContent !== td.textContent) {
        if (old) old.replaceWith(td);
        else tr.append(td);
        changed = true;
      }
    });
    return changed;
  }

  function flash(tr) {
    tr.classList.remove("flash");
    void tr.offsetWidth;
    tr.classList.add("flash");
  }

  function paging(answer) {
    const matching = answer.subquery_count ?? answer.count;
    total = matching;
    const from = matching === 0 ? 0 : state.offset + 1;
    const to = state.offset + answer.subcount;
    const go = (offset) => () => {
      state.offset = Math.max(0, offset);
      opts.setQuery({ offset: state.offset || null });
      reload(true);
    };
    const last = Math.max(0, Math.floor((matching - 1) / state.limit) * state.limit);
    clear(
      pager,
      h("span", {}, `${count(from)}–${count(to)} of ${count(matching)}`, answer.subquery_count !== undefined ? ` (of ${count(answer.count)})` : ""),
      h("button", { type: "button", class: "ghost", disabled: state.offset === 0, onclick: go(0), "aria-label": "First page" }, "«"),
      h("button", { type: "button", class: "ghost", disabled: state.offset === 0, onclick: go(state.offset - state.limit), "aria-label": "Previous page" }, "‹ Prev"),
      h("button", { type: "button", class: "ghost", disabled: to >= matching, onclick: go(state.offset + state.limit), "aria-label": "Next page" }, "Next ›"),
      h("button", { type: "button", class: "ghost", disabled: to >= matching, onclick: go(last), "aria-label": "Last page" }, "»"),
      h(
        "select",
        {
          "aria-label": "Rows per page",
          onchange: (e) => {
            state.limit = parseInt(e.target.value, 10);
            state.offset = 0;
            opts.setQuery({ limit: state.limit, offset: null });
            reload(true);
          },
        },
        PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.limit }, `${n} rows`)),
      ),
    );
  }

  async function fetchPage() {
    const then = (opts.then || []).filter(([k]) => k !== state.sort);
    const params = {
      expand: "resources",
      attributes: opts.attributes.join(","),
      offset: state.offset,
      limit: state.limit,
      sort_by: [state.sort, ...then.map(([k]) => k)].join(","),
      sort_order: [state.order, ...then.map(([, o]) => o)].join(","),
      "filter[]": opts.filters ? opts.filters(opts.query) : [],
      ...(opts.params ? opts.params(opts.query) : {}),
    };
    return get(`${opts.path}${qs(params)}`);
  }

  /** Fetches the page again; `reset` drops the rows shown (new sort, filter or page). */
  async function reload(reset = false) {
    if (inflight) {
      again = true;
      return inflight;
    }
    if (reset) {
      rows.clear();
      tbody.replaceChildren();
      clear(status, h("span", { class: "loading" }, "Loading…"));
    }
    inflight = (async () => {
      try {
        const answer = await fetchPage();
        const seen = new Set();
        const initial = rows.size === 0;
        (answer.resources || []).forEach((row) => {
          seen.add(row.id);
          let tr = rows.get(row.id);
          if (!tr) {
            tr = build(row);
            rows.set(row.id, tr);
            if (!initial) flash(tr);
          } else if (patch(tr, row)) {
            flash(tr);
          }
          tbody.append(tr); // moves it to its place in the server's order
        });
        for (const [id, tr] of rows) {
          if (!seen.has(id)) {
            tr.remove();
            rows.delete(id);
          }
        }
        const first = tbody.querySelector("tr");
        if (first && !tbody.querySelector('tr[tabindex="0"]')) first.tabIndex = 0;
        clear(status, rows.size === 0 ? empty(opts.emptyText || "Nothing matches.") : null);
        // For `benches/console_paint.rs`: when the first page of rows is on screen.
        if (initial && rows.size > 0 && performance.getEntriesByName("steward:first-rows").length === 0) performance.mark("steward:first-rows");
        paging(answer);
      } catch (err) {
        clear(status, failure(err, () => reload(true)));
      } finally {
        inflight = null;
        if (again) {
          again = false;
          reload();
        }
      }
    })();
    return inflight;
  }

  // Keyboard: arrows and j/k move between rows, Enter opens, Home/End jump.
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr");
    if (!tr) return;
    let next = null;
    if (e.key === "ArrowDown" || e.key === "j") next = tr.nextElementSibling;
    else if (e.key === "ArrowUp" || e.key === "k") next = tr.previousElementSibling;
    else if (e.key === "Home") next = tbody.firstElementChild;
    else if (e.key === "End") next = tbody.lastElementChild;
    else if (e.key === "Enter") {
      const row = tr.dataset.id;
      if (row) tr.click();
      return;
    }
    if (next) {
      e.preventDefault();
      tr.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  });

  headers();
  return { element, reload, total: () => total };
}

/** Calls fn at most once per `ms`, and once more after the last call. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return () => {
    const wait = last + ms - Date.now();
    if (wait <= 0 && !timer) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, Math.max(wait, 0));
    }
  };
}
