// The three pages: runs, run, task.
import { ApiError, apiGet, EndEvent, LogRecord, recordMs, RunSummary, STATUS_OF_RESULT, TaskSummary } from "./api";
import { clear, colourFor, fmtDuration, fmtTime, h } from "./dom";
import { LogPanel } from "./logpage";

export interface Page {
  destroy(): void;
}

function chip(status: string, extra = ""): HTMLElement {
  return h("span", { class: `status ${status}`, "data-status": status }, status + extra);
}

export function notFound(root: HTMLElement, what: string): Page {
  clear(root);
  root.append(h("div", { class: "notfound", role: "alert" }, h("h1", {}, "Not found"), h("p", {}, `${what} not found (or not yours).`)));
  return { destroy() {} };
}

export function failed(root: HTMLElement, err: unknown): Page {
  if (err instanceof ApiError && err.status === 404) return notFound(root, "This page's task or run is");
  clear(root);
  root.append(h("div", { class: "notfound", role: "alert" }, h("h1", {}, "Error"), h("p", {}, String(err instanceof Error ? err.message : err))));
  return { destroy() {} };
}

function endText(end: EndEvent, durationMs: number | null): string {
  const status = STATUS_OF_RESULT[end.result] ?? (end.result || "ended");
  const code = end.exit_code !== null && end.exit_code !== undefined ? `, exit code ${end.exit_code}` : "";
  const dur = durationMs !== null ? `, ${fmtDuration(durationMs)}` : "";
  return `Task ${status} (${end.result || "no result"}${code}${dur})`;
}

// ---- task ---------------------------------------------------------------------------

export async function taskPage(root: HTMLElement, id: string, crumbs: HTMLElement): Promise<Page> {
  let summary = null as TaskSummary | null;
  let firstMs: number | null = null;
  const status = h("span", { class: "task-status" }, chip("running"));
  const title = h("h1", {}, id);
  const meta = h("span", { class: "meta" });
  const dur = h("span", { class: "meta dur" });
  clear(crumbs);
  const endBanner = h("div", { class: "end-banner", hidden: true, role: "status", "data-testid": "end-banner" });
  const panel = new LogPanel({
    kind: "task",
    id,
    showTask: false,
    startMs: null,
    firstErrorSeq: null,
    onRecords(recs: LogRecord[]) {
      if (firstMs === null && recs.length && recs[0].seq === 1) {
        firstMs = recordMs(recs[0]);
        panel.view.startMs = firstMs;
      }
    },
    onEnd(end: EndEvent) {
      const endMs = recordMs(end);
      const d = summary?.duration_ms ?? (firstMs !== null && endMs !== null ? endMs - firstMs : null);
      const st = STATUS_OF_RESULT[end.result] ?? "unknown";
      clear(status);
      status.append(chip(st));
      endBanner.hidden = false;
      endBanner.className = `end-banner ${st}`;
      endBanner.textContent = endText(end, d);
      if (d !== null) dur.textContent = fmtDuration(d);
    },
  });
  const opened = panel.open();
  // The summary once the log's tail is in (first paint is the tail's one round trip,
  // with no other request of the page sharing the server).
  const asked = panel.feed.firstPage.then(() => apiGet<TaskSummary>(`/api/v1/tasks/${encodeURIComponent(id)}`)).then(
    (s) => s,
    (e) => {
      if (e instanceof ApiError && e.missingRoute) return null;
      throw e;
    },
  );
  const applySummary = (s: TaskSummary | null) => {
    summary = s;
    if (!s) return;
    title.textContent = s.task_name || id;
    clear(meta);
    meta.append(`${s.pipeline_name} · run `, h("a", { href: `/runs/${encodeURIComponent(s.run_id)}` }, s.run_id));
    if (s.duration_ms) dur.textContent = fmtDuration(s.duration_ms);
    if (!endBanner.textContent) {
      clear(status);
      status.append(chip(s.status));
    }
    clear(crumbs);
    crumbs.append(" / ", h("a", { href: `/runs/${encodeURIComponent(s.run_id)}` }, s.pipeline_name || s.run_id), " / ", s.task_name);
    if (s.start) {
      firstMs = Date.parse(s.start);
      panel.view.startMs = firstMs;
    }
    panel.opts.firstErrorSeq = s.first_error_seq;
    document.title = `${s.task_name || id} · tasklogs`;
  };
  clear(root);
  root.append(h("div", { class: "page task-page" }, h("div", { class: "head" }, title, status, meta, dur), endBanner, panel.el));
  document.title = `${id} · tasklogs`;
  try {
    const [s] = await Promise.all([asked, opened]);
    applySummary(s);
  } catch (e) {
    panel.destroy();
    throw e;
  }
  return { destroy: () => panel.destroy() };
}

// ---- run ----------------------------------------------------------------------------

export async function runPage(root: HTMLElement, id: string, crumbs: HTMLElement): Promise<Page> {
  const tasks = new Map<string, TaskSummary | { task_run_id: string; task_name: string; status: string }>();
  let run: RunSummary | null = null;
  let indexed = true;
  const load = async () => {
    try {
      const res = await apiGet<{ run: RunSummary; tasks: TaskSummary[] }>(`/api/v1/runs/${encodeURIComponent(id)}`);
      run = res.run;
      for (const t of res.tasks) tasks.set(t.task_run_id, t);
    } catch (e) {
      if (!(e instanceof ApiError && e.missingRoute)) throw e;
      indexed = false;
    }
  };
  await load();
  const table = h("tbody");
  const selected = new Set<string>();
  const head = h("div", { class: "head" }, h("h1", {}, "run"), h("span", { class: "runid" }, id));
  const renderTasks = () => {
    clear(head);
    head.append(h("h1", {}, run?.pipeline_name || "run"), h("span", { class: "runid" }, id));
    if (run) head.append(chip(run.status), h("span", { class: "meta" }, fmtDuration(run.duration_ms)));
    clear(table);
    for (const t of tasks.values()) {
      const full = "start" in t ? (t as TaskSummary) : null;
      const box = h("input", { type: "checkbox", "aria-label": `show ${t.task_name}`, checked: selected.has(t.task_name) });
      box.addEventListener("change", () => {
        if (box.checked) selected.add(t.task_name);
        else selected.delete(t.task_name);
        void refilter();
      });
      const swatch = h("span", { class: "swatch" });
      swatch.style.background = colourFor(t.task_name || t.task_run_id);
      table.append(
        h("tr", { "data-task": t.task_run_id },
          h("td", {}, box),
          h("td", {}, swatch, h("a", { href: `/tasks/${encodeURIComponent(t.task_run_id)}` }, t.task_name || t.task_run_id)),
          h("td", {}, chip(t.status, full?.exit_code !== null && full?.exit_code !== undefined && t.status === "failed" ? ` (${full.exit_code})` : "")),
          h("td", {}, full ? fmtDuration(full.duration_ms) : ""),
          h("td", {}, full ? String(full.error_count) : ""),
        ),
      );
    }
  };
  clear(crumbs);
  crumbs.append(" / ", id);
  let refreshTimer = 0;
  const refresh = () => {
    if (refreshTimer) return;
    refreshTimer = window.setTimeout(async () => {
      refreshTimer = 0;
      if (indexed) await load().catch(() => undefined);
      renderTasks();
    }, 500);
  };
  let panel = makePanel({});
  function makePanel(filters: Record<string, string[]>): LogPanel {
    return new LogPanel({
      kind: "run",
      id,
      showTask: true,
      filters,
      onRecords(recs) {
        let added = false;
        for (const r of recs) {
          const tid = r.task_run_id;
          if (tid && !tasks.has(tid)) {
            tasks.set(tid, { task_run_id: tid, task_name: r.task_name ?? tid, status: "running" });
            added = true;
          }
        }
        if (added) refresh();
      },
      onEnd(end) {
        const t = tasks.get(end.task_run_id);
        if (t && !indexed) t.status = STATUS_OF_RESULT[end.result] ?? "unknown";
        refresh();
      },
    });
  }
  const slot = h("div", { class: "slot" }, panel.el);
  async function refilter(): Promise<void> {
    panel.destroy();
    const names = [...selected];
    panel = makePanel(names.length ? { task: names, ...(names.length === 1 ? { task_name: names } : {}) } : {});
    clear(slot);
    slot.append(panel.el);
    await panel.open();
  }
  clear(root);
  root.append(
    h("div", { class: "page run-page" }, head,
      h("table", { class: "tasks" }, h("thead", {}, h("tr", {}, h("th", {}, "show"), h("th", {}, "task"), h("th", {}, "status"), h("th", {}, "duration"), h("th", {}, "errors"))), table),
      slot),
  );
  renderTasks();
  await panel.open();
  const poll = window.setInterval(() => { if (indexed) refresh(); }, 5000);
  return { destroy: () => { panel.destroy(); window.clearInterval(poll); } };
}

// ---- runs ---------------------------------------------------------------------------

export async function runsPage(root: HTMLElement, crumbs: HTMLElement): Promise<Page> {
  clear(crumbs);
  const q = h("input", { type: "search", placeholder: "filter by pipeline, run or task", "aria-label": "filter runs" });
  const status = h("select", { "aria-label": "status" }, ...["", "running", "succeeded", "failed", "cancelled", "unknown"].map((s) => h("option", { value: s }, s || "any status")));
  const body = h("tbody");
  const note = h("p", { class: "muted" });
  const more = h("button", { hidden: true }, "more");
  let cursor: string | null = null;
  const row = (r: RunSummary) => {
    const counts = Object.entries(r.tasks_by_status ?? {}).map(([s, n]) => h("span", { class: `count ${s}` }, `${n} ${s}`));
    return h("tr", { "data-run": r.run_id },
      h("td", {}, h("a", { href: `/runs/${encodeURIComponent(r.run_id)}` }, r.pipeline_name || r.run_id)),
      h("td", { class: "runid" }, r.run_id),
      h("td", {}, chip(r.status)),
      h("td", {}, fmtTime(r.start)),
      h("td", {}, fmtDuration(r.duration_ms)),
      h("td", {}, String(r.task_count), " ", ...counts),
      h("td", {}, String(r.error_count ?? "")),
    );
  };
  const load = async (append = false) => {
    try {
      const res = await apiGet<{ runs: RunSummary[]; next_cursor: string | null }>("/api/v1/runs", {
        q: q.value, status: status.value, limit: 50, cursor: append ? cursor : null,
      });
      if (!append) clear(body);
      res.runs.forEach((r) => body.append(row(r)));
      cursor = res.next_cursor;
      more.hidden = !cursor;
      note.textContent = body.children.length ? "" : "No runs yet.";
    } catch (e) {
      if (e instanceof ApiError && e.missingRoute) note.textContent = "This server has no runs index yet: open a task at /tasks/<task run id>.";
      else note.textContent = String(e);
    }
  };
  q.addEventListener("input", () => void load());
  status.addEventListener("change", () => void load());
  more.addEventListener("click", () => void load(true));
  clear(root);
  root.append(
    h("div", { class: "page runs-page" },
      h("div", { class: "head" }, h("h1", {}, "Runs"), q, status),
      h("table", { class: "runs" }, h("thead", {}, h("tr", {}, ...["pipeline", "run", "status", "started", "duration", "tasks", "errors"].map((t) => h("th", {}, t)))), body),
      more, note),
  );
  document.title = "runs · tasklogs";
  await load();
  // Live updates: the first page again every few seconds (only while nobody paged on).
  const timer = window.setInterval(() => { if (!cursor || body.children.length <= 50) void load(); }, 3000);
  return { destroy: () => window.clearInterval(timer) };
}
