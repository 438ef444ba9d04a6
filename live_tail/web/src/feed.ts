// Where a log view's lines come from: history pages (tail, pages back, jumps) and the
// live SSE stream (resumed exactly: Last-Event-ID, or after_seq / after on a new stream).
import { ApiError, apiGet, EndEvent, GapEvent, HistoryPage, LogRecord, Params, signedUrl } from "./api";
import { LogView, ViewRecord } from "./logview";

const PAGE = 1000;
/** A jump far from the window (permalink, scrollbar, search, error): a page this long
 * around the target paints first; the pages next to it come as they come into sight. */
const JUMP = 300;
/** The first page: a screenful or three (the server's cost grows with it; 500 lines cost
 * twice what 150 do); what precedes it is paged in when scrolled to. A task page's HTML
 * embeds this many (FIRST_TAIL_LINES in live_tail/src/live_tail/web.py). */
const TAIL = 200;
const MAX_CURSOR = "9223372036854775807";

export interface FeedEvents {
  onEnd?(end: EndEvent): void;
  onConnection?(state: "live" | "reconnecting" | "ended"): void;
  onRecords?(records: LogRecord[]): void;
  onError?(err: unknown): void;
}

/** History and live of one task run (``kind: task``) or one pipeline run (``run``). */
export class Feed {
  private es: EventSource | null = null;
  private pending: ViewRecord[] = [];
  private flushing = 0;
  private loading = new Map<string, Promise<void>>();
  private reopenTimer = 0;
  /** Highest seq delivered per task run (duplicates are dropped, never shown twice). */
  private readonly lastSeq = new Map<string, number>();
  private lastCursor: string | null = null;
  private prevCursor: string | null = null;
  private nextCursor: string | null = null;
  /** True on a server whose pages have no ``prev_cursor`` (no tail/before/from_seq). */
  legacy = false;
  /** Settled once the first page is in the view (or failed): other requests of the page
   * wait for it, so the tail is the server's first answer. */
  readonly firstPage: Promise<void>;
  private firstDone: () => void = () => {};
  ended = false;
  closed = false;

  constructor(
    readonly kind: "task" | "run",
    readonly id: string,
    readonly view: LogView,
    readonly filters: Params,
    readonly events: FeedEvents = {},
  ) {
    view.mode = kind === "task" && !Feed.filtered(filters) ? "seq" : "cursor";
    this.firstPage = new Promise((resolve) => (this.firstDone = resolve));
  }

  static filtered(filters: Params): boolean {
    return Object.values(filters).some((v) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && !v.length));
  }

  get base(): string {
    return `/api/v1/${this.kind === "task" ? "tasks" : "runs"}/${encodeURIComponent(this.id)}/logs`;
  }

  private page(params: Params): Promise<HistoryPage> {
    return apiGet<HistoryPage>(this.base, { ...this.filters, ...params });
  }

  /** The tail, then live. Throws ApiError (404: not found / another tenant's). */
  async open(): Promise<void> {
    try {
      await this.openTail();
    } finally {
      this.firstDone();
    }
    await this.connect();
  }

  /** The tail a task page's HTML brought (live_tail/web.py), once: this task's, unfiltered. */
  private embedded(): HistoryPage | null {
    const el = document.getElementById("tail");
    if (!el) return null;
    el.remove();
    if (this.kind !== "task" || Feed.filtered(this.filters)) return null;
    try {
      const page = JSON.parse(el.textContent ?? "") as HistoryPage & { task_run_id?: string };
      return page.task_run_id === this.id && Array.isArray(page.records) ? page : null;
    } catch {
      return null;
    }
  }

  private async openTail(): Promise<void> {
    let page: HistoryPage | null = this.embedded();
    try {
      page ??= await this.page({ tail: TAIL, limit: TAIL });
    } catch (e) {
      if (!(e instanceof ApiError && e.missingRoute && this.kind === "run")) throw e;
      this.legacy = true; // no run history on this server: the stream's recent lines
    }
    if (page && !("prev_cursor" in page)) {
      // An older server ignored ``tail`` and sent the first page: the whole log when it
      // fits, or a filter's first matches (paged forward); else its stream sends the
      // recent lines itself.
      this.legacy = true;
      if (page.next_cursor !== null && !Feed.filtered(this.filters)) page = null;
    }
    if (page) {
      const recs = this.fresh(page.records);
      this.prevCursor = page.prev_cursor ?? null;
      this.nextCursor = page.next_cursor;
      if (this.view.mode === "seq") {
        this.view.setWindow(recs, recs.length && recs[0].seq ? recs[0].seq - 1 : 0, 0);
      } else {
        this.view.setWindow(recs, this.prevCursor ? 1 : 0, this.legacy && this.nextCursor ? 1 : 0);
      }
      this.events.onRecords?.(recs);
    } else {
      this.view.setWindow([], 0, 0);
      if (this.kind === "run") await this.probe();
    }
  }

  /** Whether the stream would answer (an older server has no run history to ask): an
   * EventSource hides the status of a refusal, a fetch that stops at the headers does not. */
  private async probe(): Promise<void> {
    const ctl = new AbortController();
    const resp = await fetch(await signedUrl(`${this.base}/stream`, this.filters), { signal: ctl.signal });
    if (resp.ok) {
      ctl.abort();
      return;
    }
    let detail = resp.statusText;
    try {
      detail = ((await resp.json()) as { detail: string }).detail;
    } catch {
      /* not JSON */
    }
    throw new ApiError(resp.status, detail);
  }

  /** Drop what was delivered before, remember the newest. */
  private fresh(records: LogRecord[]): ViewRecord[] {
    const out: ViewRecord[] = [];
    for (const r of records) {
      // History records of older servers carry the task in their resource only.
      const res = r.resource_attributes;
      r.task_run_id ??= res?.["cicd.pipeline.task.run.id"] ?? (this.kind === "task" ? this.id : undefined);
      r.task_name ??= res?.["cicd.pipeline.task.name"];
      const key = r.task_run_id ?? this.id;
      if (r.seq) {
        const last = this.lastSeq.get(key) ?? 0;
        if (r.seq <= last) continue;
        this.lastSeq.set(key, r.seq);
      }
      if (r.cursor) this.lastCursor = r.cursor;
      out.push(r as ViewRecord);
    }
    return out;
  }

  private streamParams(): Params {
    const p: Params = { ...this.filters };
    if (this.kind === "task") {
      const last = this.lastSeq.get(this.id);
      if (last !== undefined) p.after_seq = last;
      else if (!this.legacy) p.after_seq = 0;
    } else if (this.lastCursor) p.after = this.lastCursor;
    return p;
  }

  private async connect(): Promise<void> {
    if (this.closed || this.ended) return;
    const url = await signedUrl(`${this.base}/stream`, this.streamParams());
    if (this.closed) return;
    const es = new EventSource(url);
    this.es = es;
    es.addEventListener("open", () => this.events.onConnection?.("live"));
    es.addEventListener("log", (ev) => {
      const rec = JSON.parse((ev as MessageEvent).data) as LogRecord;
      this.pending.push(rec as ViewRecord);
      this.scheduleFlush();
    });
    es.addEventListener("gap", (ev) => {
      const g = JSON.parse((ev as MessageEvent).data) as GapEvent;
      this.flush();
      this.view.append([{ seq: 0, body: "", gap: `gap: ${g.what} — ${g.reason}` }]);
    });
    es.addEventListener("end", (ev) => {
      const end = JSON.parse((ev as MessageEvent).data) as EndEvent;
      this.flush();
      if (this.kind === "task") {
        this.ended = true;
        es.close();
        this.events.onConnection?.("ended");
      }
      this.events.onEnd?.(end);
    });
    es.addEventListener("error", () => {
      if (this.closed || this.ended) return;
      this.flush();
      this.events.onConnection?.("reconnecting");
      if (es.readyState === EventSource.CLOSED) {
        // Refused (a restart lost the token, a proxy error): a new stream that starts
        // exactly after what we have.
        window.clearTimeout(this.reopenTimer);
        this.reopenTimer = window.setTimeout(() => {
          this.connect().catch((e) => {
            this.events.onError?.(e);
            this.reopenTimer = window.setTimeout(() => this.connect(), 3000);
          });
        }, 1000);
      }
    });
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = requestAnimationFrame(() => {
      this.flushing = 0;
      this.flush();
    });
  }

  private flush(): void {
    if (!this.pending.length) return;
    const recs = this.fresh(this.pending);
    this.pending = [];
    if (!recs.length) return;
    this.view.append(recs);
    this.events.onRecords?.(recs);
  }

  close(): void {
    this.closed = true;
    this.es?.close();
    window.clearTimeout(this.reopenTimer);
  }

  // ---- paging -----------------------------------------------------------------------

  /** The view needs unloaded rows: ``seq`` in sight (seq mode), or a side (cursor mode). */
  need(side: "before" | "after", seq: number): void {
    if (this.view.mode === "seq") {
      if (side === "before") {
        const first = this.view.firstSeq;
        // Adjacent to the window: a page just before it; far: a page around ``seq``.
        if (first - seq <= PAGE) void this.loadSeq(Math.max(1, first - PAGE));
        else void this.loadSeq(Math.max(1, seq - JUMP / 2), JUMP);
      } else {
        const last = this.view.lastSeq;
        if (seq - last <= PAGE) void this.loadSeq(last + 1);
        else void this.loadSeq(Math.max(1, seq - JUMP / 2), JUMP);
      }
      return;
    }
    if (side === "before" && this.prevCursor) void this.loadBefore();
    if (side === "after" && this.nextCursor) void this.loadAfter();
  }

  /** One request per key at a time: a second caller waits for the first's answer. */
  private once(key: string, fn: () => Promise<void>): Promise<void> {
    const running = this.loading.get(key);
    if (running) return running;
    // Answered: the same request is not repeated for a moment (a view that still sees
    // placeholders there asks again, but not in a tight loop).
    const p = fn()
      .catch((e) => this.events.onError?.(e))
      .finally(() => {
        this.loading.set(key, Promise.resolve());
        window.setTimeout(() => this.loading.delete(key), 100);
      });
    this.loading.set(key, p);
    return p;
  }

  /** Lines from ``from`` on (seq mode): merged into the window, or a new window. */
  loadSeq(from: number, limit = PAGE): Promise<void> {
    return this.once(`seq:${from}:${limit}`, async () => {
      const params: Params = this.legacy ? { cursor: `${from - 1}-${MAX_CURSOR}` } : { from_seq: from };
      const page = await this.page({ ...params, limit });
      const recs = page.records as ViewRecord[];
      if (!recs.length) return;
      const v = this.view;
      const lo = recs[0].seq;
      const hi = recs[recs.length - 1].seq;
      const known = Math.max(v.lastSeq + v.after, hi);
      if (hi < v.firstSeq - 1 || lo > v.lastSeq + 1 || !v.win.length) {
        v.setWindow(recs, lo - 1, Math.max(0, known - hi));
      } else if (lo < v.firstSeq) {
        v.prepend(
          recs.filter((r) => r.seq < v.firstSeq),
          lo - 1,
        );
      } else if (hi > v.lastSeq) {
        const more = recs.filter((r) => r.seq > v.lastSeq);
        const after = Math.max(0, v.lastSeq + v.after - more[more.length - 1].seq);
        v.win.push(...more);
        v.after = after;
        if (v.win.length > 20_000) v.win.splice(0, v.win.length - 20_000);
        v.before = v.firstSeq - 1;
        v.invalidate();
      }
    });
  }

  private loadBefore(): Promise<void> {
    return this.once("before", async () => {
      const first = this.view.win.find((r) => r.cursor);
      if (!first?.cursor) return;
      const page = await this.page({ before: first.cursor, limit: PAGE });
      this.prevCursor = page.prev_cursor ?? null;
      this.view.prepend(page.records as ViewRecord[], this.prevCursor ? 1 : 0);
    });
  }

  private loadAfter(): Promise<void> {
    return this.once("after", async () => {
      const last = [...this.view.win].reverse().find((r) => r.cursor);
      const page = await this.page({ cursor: last?.cursor ?? this.nextCursor, limit: PAGE });
      this.nextCursor = page.next_cursor;
      const v = this.view;
      v.after = 0;
      v.append(page.records as ViewRecord[]);
      v.after = this.nextCursor ? 1 : 0;
      v.invalidate();
    });
  }

  /** Bring ``seq`` into the window (seq mode) and return its row. */
  async reveal(seq: number): Promise<number | null> {
    const v = this.view;
    if (v.mode === "seq" && (!v.win.length || seq < v.firstSeq || seq > v.lastSeq)) {
      await this.loadSeq(Math.max(1, seq - JUMP / 3), JUMP);
    }
    return v.rowOfSeq(seq);
  }

  /** A cursor just after ``seq`` (for "next error" queries). */
  cursorAfter(seq: number): string {
    const rec = this.view.win.find((r) => r.seq === seq && r.cursor);
    return rec?.cursor ?? `${seq}-${MAX_CURSOR}`;
  }
}
