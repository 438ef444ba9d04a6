// The log view: a virtualized window of lines over the whole log.
//
// The scroll space stands for every row of the log: `before` unloaded rows, the loaded
// window (folded into display rows: groups, repeats), `after` unloaded rows. Only the
// rows in sight are in the DOM (a sticky "stage" the height of the viewport), and the
// window holds at most MAX_WINDOW records, so memory is bounded whatever the log's size.
// In "seq" mode (a task) row i of the unloaded parts is line i+1; in "cursor" mode (a
// run, a filter) the unloaded parts are one "loading" row each.
import { attrsOf, LogRecord, recordMs } from "./api";
import { parseAnsi, renderSegments, stripAnsi } from "./ansi";
import { colourFor, fmtDuration, h } from "./dom";
import { groupMarker, Marker } from "./groups";

export const ROW = 18;
export const MAX_WINDOW = 20_000;
/** Past MAX_WINDOW the front is cut by this many more records at once: one full row
 * pass per cut (every few seconds when following a fast log), not one per frame. */
const TRIM_SLACK = 5_000;
const MAX_PX = 15_000_000;

export interface ViewRecord extends LogRecord {
  /** A marker row (a gap) rather than a log line. */
  gap?: string;
  _plain?: string;
  _ms?: number | null;
  _marker?: Marker | null;
}

function msOf(r: ViewRecord): number | null {
  if (r._ms === undefined) r._ms = recordMs(r);
  return r._ms;
}

function markerOf(r: ViewRecord): Marker | null {
  if (r._marker === undefined) r._marker = groupMarker(plain(r));
  return r._marker;
}

interface Group {
  seq: number;
  name: string;
  open: boolean;
  closed: boolean;
  hasError: boolean;
  startMs: number | null;
  endMs: number | null;
  depth: number;
  /** Closed only by a header of its own kind (Buildkite): never "still running". */
  flat: boolean;
}

interface Row {
  rec: ViewRecord;
  seq: number;
  lastSeq: number;
  count: number;
  depth: number;
  group?: Group;
}

export interface ViewHooks {
  /** Unloaded rows came into sight: `seq` of the row in sight (seq mode), or which side. */
  need(side: "before" | "after", seq: number): void;
  /** The user scrolled to the bottom or resumed: the page follows again. */
  followChanged?(following: boolean): void;
  /** A line number was clicked (shift: extend the range). */
  lineClicked?(seq: number, shift: boolean): void;
}

export function plain(r: ViewRecord): string {
  if (r._plain === undefined) r._plain = stripAnsi(r.body ?? "");
  return r._plain;
}

export function isStderr(r: LogRecord): boolean {
  return attrsOf(r)["log.iostream"] === "stderr" || r.scope_name === "tasklogs.stderr";
}

export function isError(r: ViewRecord): boolean {
  if (r.gap) return false;
  return (r.severity_number ?? 0) >= 17 || isStderr(r) || plain(r).startsWith("Traceback (most recent call last)");
}

function sevClass(n: number | undefined): string {
  if (!n) return "";
  if (n >= 17) return "sev-error";
  if (n >= 13) return "sev-warn";
  if (n <= 8) return "sev-debug";
  return "";
}

export class LogView {
  readonly el: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly content: HTMLElement;
  private readonly stage: HTMLElement;
  private readonly rowsEl: HTMLElement;
  readonly pill: HTMLButtonElement;

  mode: "seq" | "cursor" = "seq";
  win: ViewRecord[] = [];
  before = 0;
  after = 0;
  private rows: Row[] = [];
  private dirty = true;
  /** Where the last row pass ended (open groups of both passes), so lines appended
   * after it extend the rows instead of a new pass over the whole window. */
  private tail: { stack: Group[]; open: Group[]; hidden: number; len: number } | null = null;
  private frame = 0;
  following = true;
  newLines = 0;
  private programmatic = false;

  wrap = false;
  timestamps: "off" | "absolute" | "relative" = "off";
  startMs: number | null = null;
  showTask = false;
  foldRepeats = true;
  hlFrom: number | null = null;
  hlTo: number | null = null;
  search: RegExp | null = null;
  current: number | null = null;
  readonly groupState = new Map<number, boolean>();

  constructor(private readonly hooks: ViewHooks) {
    this.rowsEl = h("div", { class: "rows" });
    this.stage = h("div", { class: "stage" }, this.rowsEl);
    this.content = h("div", { class: "content" }, this.stage);
    this.scroller = h("div", { class: "scroller", tabindex: "0" }, this.content);
    this.pill = h("button", { class: "pill", hidden: true }, "");
    this.pill.addEventListener("click", () => this.resume());
    this.el = h("div", { class: "logview" }, this.scroller, this.pill);
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.rowsEl.addEventListener("click", (ev) => this.onClick(ev));
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
  }

  // ---- data -------------------------------------------------------------------------

  setWindow(records: ViewRecord[], before: number, after: number): void {
    this.win = records;
    this.before = before;
    this.after = after;
    this.invalidate();
  }

  get firstSeq(): number {
    for (const r of this.win) if (r.seq) return r.seq;
    return 0;
  }
  get lastSeq(): number {
    for (let i = this.win.length - 1; i >= 0; i--) if (this.win[i].seq) return this.win[i].seq;
    return 0;
  }

  /** Lines that follow the window (live lines, or a forward page). */
  append(records: ViewRecord[]): void {
    if (!records.length) return;
    const atTail = this.after === 0;
    if (!atTail || (!this.following && this.win.length + records.length > MAX_WINDOW)) {
      // Not loaded: counted, fetched when scrolled to.
      if (this.mode === "seq") {
        const last = records[records.length - 1].seq;
        this.after = Math.max(this.after, last - this.lastSeq);
      } else this.after = 1;
    } else {
      if (this.mode === "seq" && !this.win.length && records[0].seq) this.before = records[0].seq - 1;
      for (const r of records) this.win.push(r);
      if (this.win.length > MAX_WINDOW) this.trimFront(this.win.length - MAX_WINDOW + TRIM_SLACK);
      else if (!this.dirty && this.extend(records)) {
        this.countNew(records);
        this.schedule();
        return;
      }
    }
    this.countNew(records);
    this.invalidate();
  }

  private countNew(records: ViewRecord[]): void {
    if (this.following) return;
    this.newLines += records.filter((r) => !r.gap).length;
    this.showPill();
  }

  /** Rows for ``records`` just appended to a window whose rows are up to date, as the
   * full pass (compute) would make them; false (nothing changed) when one of them could
   * change rows before it: a group marker, the task's end, an error inside a group. */
  private extend(records: ViewRecord[]): boolean {
    const t = this.tail;
    if (!t || t.len + records.length !== this.win.length) return false;
    for (const r of records) {
      if (r.gap) continue;
      if (r.event_name === "tasklogs.task.end" || markerOf(r) !== null) return false;
      if (t.stack.length && isError(r)) return false;
    }
    const rows = this.rows;
    for (const r of records) {
      if (!r.gap) {
        const ms = msOf(r);
        if (ms !== null) for (const g of t.stack) if (!g.closed) g.endMs = ms;
      }
      const depth = t.open.length;
      if (t.hidden >= 0 && depth > t.hidden) continue;
      const prev = rows[rows.length - 1];
      if (this.folds(prev, r, depth)) {
        prev.count++;
        prev.lastSeq = r.seq || prev.lastSeq;
        continue;
      }
      rows.push({ rec: r, seq: r.seq, lastSeq: r.seq, count: 1, depth });
    }
    t.len = this.win.length;
    return true;
  }

  /** Whether ``r`` folds into the row before it (a repeated line). */
  private folds(prev: Row | undefined, r: ViewRecord, depth: number): prev is Row {
    return (
      this.foldRepeats &&
      prev !== undefined &&
      !prev.group &&
      !r.gap &&
      !prev.rec.gap &&
      prev.depth === depth &&
      prev.rec.task_run_id === r.task_run_id &&
      prev.rec.severity_number === r.severity_number &&
      plain(prev.rec) === plain(r) &&
      plain(r) !== ""
    );
  }

  /** Lines that precede the window (a page back); keeps the view where it was. */
  prepend(records: ViewRecord[], before: number): void {
    const rowsBefore = this.rowCount();
    const top = this.virtualTop();
    this.win = records.concat(this.win);
    this.before = before;
    if (this.win.length > MAX_WINDOW) this.trimBack(this.win.length - MAX_WINDOW);
    this.invalidate();
    this.compute();
    const added = this.rowCount() - rowsBefore;
    this.scrollToVirtual(top + added * ROW);
  }

  private trimFront(n: number): void {
    const gone = this.win.splice(0, n);
    if (this.mode === "seq") this.before = this.firstSeq ? this.firstSeq - 1 : this.before + gone.length;
    else this.before = 1;
  }

  private trimBack(n: number): void {
    const gone = this.win.splice(this.win.length - n, n);
    if (this.mode === "seq") {
      const lastGone = gone.filter((r) => r.seq).pop();
      this.after += lastGone ? lastGone.seq - this.lastSeq : gone.length;
      this.after = Math.max(this.after, gone.length);
    } else this.after = 1;
  }

  invalidate(): void {
    this.dirty = true;
    this.schedule();
  }

  // ---- rows -------------------------------------------------------------------------

  private compute(): void {
    if (!this.dirty) return;
    this.dirty = false;
    // Pass 1: groups (where they start and end, errors inside, durations).
    const starts = new Map<number, Group>();
    const stack: Group[] = [];
    const info: (Group | "end" | "endall" | null)[] = new Array(this.win.length);
    this.win.forEach((r, i) => {
      info[i] = null;
      if (r.gap) return;
      const ms = msOf(r);
      if (r.event_name === "tasklogs.task.end") {
        // The task's end closes what is open (Buildkite sections run to the next header).
        for (const g of stack.splice(0)) {
          g.closed = true;
          g.endMs = ms;
        }
        info[i] = "endall";
        return;
      }
      const m = markerOf(r);
      if (m?.kind === "start") {
        if (m.style === "bk") {
          while (stack.length && stack[stack.length - 1].name.startsWith("\u0000bk")) {
            const g = stack.pop()!;
            g.closed = true;
            g.endMs = ms;
          }
        }
        const g: Group = {
          seq: r.seq || -i,
          name: m.style === "bk" ? "\u0000bk" + m.name : m.name,
          open: m.open ?? false,
          closed: false,
          hasError: false,
          startMs: ms,
          endMs: null,
          depth: stack.length,
          flat: m.style === "bk",
        };
        stack.push(g);
        starts.set(i, g);
        info[i] = g;
      } else if (m?.kind === "end") {
        const g = stack.pop();
        if (g) {
          g.closed = true;
          g.endMs = ms;
        }
        info[i] = "end";
      } else if (m?.kind === "reopen") {
        if (stack.length) stack[stack.length - 1].open = true;
        info[i] = "end";
      } else if (isError(r)) {
        for (const g of stack) g.hasError = true;
      }
      if (ms !== null) for (const g of stack) if (!g.closed) g.endMs = ms;
    });
    // Pass 2: display rows.
    const rows: Row[] = [];
    const open: Group[] = [];
    let hiddenDepth = -1;
    this.win.forEach((r, i) => {
      const g = info[i];
      if (g === "endall") {
        open.length = 0;
        hiddenDepth = -1;
      }
      if (g === "end") {
        const top = open.pop();
        if (top && hiddenDepth === open.length) hiddenDepth = -1;
        return;
      }
      if (g && g !== "endall" && g.name.startsWith("\u0000bk")) {
        // A Buildkite header closes the Buildkite section before it.
        while (open.length && open[open.length - 1].name.startsWith("\u0000bk")) {
          open.pop();
          if (hiddenDepth === open.length) hiddenDepth = -1;
        }
      }
      const depth = open.length;
      if (hiddenDepth >= 0 && depth > hiddenDepth) {
        if (g && g !== "endall") open.push(g);
        return;
      }
      if (g && g !== "endall") {
        const state = this.groupState.get(g.seq);
        const isOpen = state ?? (g.open || g.hasError || (!g.closed && !g.flat));
        g.open = isOpen;
        rows.push({ rec: r, seq: r.seq, lastSeq: r.seq, count: 1, depth, group: g });
        open.push(g);
        if (!isOpen) hiddenDepth = depth;
        return;
      }
      const prev = rows[rows.length - 1];
      if (this.folds(prev, r, depth)) {
        prev.count++;
        prev.lastSeq = r.seq || prev.lastSeq;
        return;
      }
      rows.push({ rec: r, seq: r.seq, lastSeq: r.seq, count: 1, depth });
    });
    this.rows = rows;
    this.tail = { stack, open, hidden: hiddenDepth, len: this.win.length };
  }

  rowCount(): number {
    this.compute();
    return this.before + this.rows.length + this.after;
  }

  /** The display row of ``seq`` (opening the groups around it), or null. */
  rowOfSeq(seq: number): number | null {
    if (this.mode === "seq") {
      if (seq < this.firstSeq || !this.win.length) return seq >= 1 && seq <= this.before ? seq - 1 : null;
      if (seq > this.lastSeq) {
        const j = seq - this.lastSeq - 1;
        return j < this.after ? this.before + this.rowCountInWindow() + j : null;
      }
    }
    this.compute();
    const idx = this.findRow(seq);
    if (idx === null) return null;
    const row = this.rows[idx];
    if (row.seq <= seq && seq <= row.lastSeq) return this.before + idx;
    // Hidden inside a closed group: open the groups that hold it and try again.
    let opened = false;
    const stack: Group[] = [];
    for (const r of this.rows) {
      if (r.seq > seq) break;
      if (r.group) {
        while (stack.length && stack[stack.length - 1].depth >= r.depth) stack.pop();
        stack.push(r.group);
      }
    }
    for (const g of stack) {
      if (!g.open) {
        this.groupState.set(g.seq, true);
        opened = true;
      }
    }
    if (!opened) return this.before + idx;
    this.invalidate();
    this.compute();
    const again = this.findRow(seq);
    return again === null ? null : this.before + again;
  }

  private rowCountInWindow(): number {
    this.compute();
    return this.rows.length;
  }

  private findRow(seq: number): number | null {
    const rows = this.rows;
    let lo = 0;
    let hi = rows.length - 1;
    let best: number | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = rows[mid].seq;
      if (!s || s <= seq) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return best;
  }

  /** The seq of the line at the top of the view (0 when none). */
  topSeq(): number {
    const first = Math.floor(this.virtualTop() / ROW);
    return this.seqOfRow(first) ?? 0;
  }

  seqOfRow(i: number): number | null {
    this.compute();
    if (i < this.before) return this.mode === "seq" ? i + 1 : null;
    const j = i - this.before;
    if (j < this.rows.length) return this.rows[j].seq;
    return this.mode === "seq" ? this.lastSeq + (j - this.rows.length) + 1 : null;
  }

  /** Records of the window in display order with the row they are on. */
  windowRecords(): ViewRecord[] {
    return this.win;
  }

  // ---- scrolling --------------------------------------------------------------------

  private totalPx(): number {
    return this.rowCount() * ROW;
  }

  private contentPx(): number {
    return Math.min(this.totalPx(), MAX_PX);
  }

  private virtualTop(): number {
    const ch = this.scroller.clientHeight;
    const total = this.totalPx();
    const content = this.contentPx();
    if (content <= ch || total === content) return this.scroller.scrollTop;
    return (this.scroller.scrollTop * (total - ch)) / (content - ch);
  }

  private scrollToVirtual(top: number): void {
    const ch = this.scroller.clientHeight;
    const total = this.totalPx();
    const content = this.contentPx();
    this.content.style.height = `${Math.max(content, 1)}px`;
    const px = content <= ch || total === content ? top : (top * (content - ch)) / Math.max(1, total - ch);
    this.programmatic = true;
    this.scroller.scrollTop = px;
    this.schedule();
  }

  atBottom(): boolean {
    const s = this.scroller;
    return s.scrollTop + s.clientHeight >= s.scrollHeight - 2;
  }

  scrollToRow(i: number, where: "top" | "center" = "center"): void {
    const ch = this.scroller.clientHeight;
    const top = i * ROW - (where === "center" ? Math.max(0, ch / 2 - ROW) : 0);
    this.scrollToVirtual(Math.max(0, top));
  }

  scrollBy(rows: number): void {
    this.scrollToVirtual(Math.max(0, this.virtualTop() + rows * ROW));
    if (rows < 0) this.pause();
  }

  toTop(): void {
    this.pause();
    this.scrollToVirtual(0);
  }

  toBottom(): void {
    this.scrollToVirtual(this.totalPx());
  }

  pause(): void {
    if (!this.following) return;
    this.following = false;
    this.hooks.followChanged?.(false);
  }

  resume(): void {
    this.following = true;
    this.newLines = 0;
    this.pill.hidden = true;
    this.hooks.followChanged?.(true);
    if (this.after > 0) this.hooks.need("after", this.lastSeq + this.after);
    this.toBottom();
  }

  private showPill(): void {
    this.pill.hidden = false;
    this.pill.textContent = `${this.newLines.toLocaleString()} new line${this.newLines === 1 ? "" : "s"} ↓`;
  }

  private onScroll(): void {
    const bottom = this.atBottom();
    if (this.programmatic) {
      this.programmatic = false;
    } else if (bottom && !this.following && this.after === 0) {
      this.resume();
    } else if (!bottom && this.following) {
      this.pause();
    }
    this.schedule();
  }

  // ---- rendering ----------------------------------------------------------------------

  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render(): void {
    this.compute();
    const content = this.contentPx();
    this.content.style.height = `${Math.max(content, 1)}px`;
    this.scroller.classList.toggle("wrap", this.wrap);
    if (this.following) {
      const target = this.scroller.scrollHeight - this.scroller.clientHeight;
      if (Math.abs(this.scroller.scrollTop - target) > 1) {
        this.programmatic = true;
        this.scroller.scrollTop = target;
      }
    }
    const ch = this.scroller.clientHeight || 600;
    this.stage.style.height = `${ch}px`;
    const count = this.rowCount();
    const visible = Math.ceil(ch / ROW) + 1;
    let first: number;
    let offset: number;
    const bottomAnchored = this.wrap && this.atBottom();
    if (bottomAnchored) {
      first = Math.max(0, count - visible);
      offset = 0;
    } else {
      const top = this.virtualTop();
      first = Math.floor(top / ROW);
      offset = top - first * ROW;
    }
    this.rowsEl.classList.toggle("bottom", bottomAnchored);
    this.rowsEl.style.transform = bottomAnchored ? "" : `translateY(${-offset}px)`;
    const els: HTMLElement[] = [];
    let needBefore: number | null = null;
    let needAfter: number | null = null;
    for (let i = first; i < Math.min(count, first + visible); i++) {
      if (i < this.before) {
        needBefore ??= this.mode === "seq" ? i + 1 : 0;
        els.push(this.placeholder(this.mode === "seq" ? i + 1 : null));
        continue;
      }
      const j = i - this.before;
      if (j >= this.rows.length) {
        const seq = this.mode === "seq" ? this.lastSeq + (j - this.rows.length) + 1 : null;
        needAfter ??= seq ?? 0;
        els.push(this.placeholder(seq));
        continue;
      }
      els.push(this.cachedRow(this.rows[j]));
    }
    // Unchanged rows keep their nodes (a selection survives live lines arriving).
    const kids = this.rowsEl.children;
    if (els.length !== kids.length || els.some((el, i) => kids[i] !== el)) this.rowsEl.replaceChildren(...els);
    if (needBefore !== null) this.hooks.need("before", needBefore);
    else if (needAfter !== null) this.hooks.need("after", needAfter);
  }

  private readonly cache = new WeakMap<ViewRecord, { key: string; el: HTMLElement }>();

  private cachedRow(row: Row): HTMLElement {
    const r = row.rec;
    const hl = this.hlFrom !== null && r.seq >= this.hlFrom && r.seq <= (this.hlTo ?? this.hlFrom);
    const key = [row.count, row.depth, hl, this.current === r.seq, row.group?.open, row.group?.hasError,
      row.group?.endMs, this.timestamps, this.showTask, this.search?.source, this.search?.flags].join("|");
    const hit = this.cache.get(r);
    if (hit && hit.key === key) return hit.el;
    const el = this.rowEl(row);
    this.cache.set(r, { key, el });
    return el;
  }

  private placeholder(seq: number | null): HTMLElement {
    return h(
      "div",
      { class: "row placeholder", "data-seq": seq ? String(seq) : undefined },
      h("span", { class: "ln" }, seq ? String(seq) : ""),
      h("span", { class: "msg" }, "loading…"),
    );
  }

  private rowEl(row: Row): HTMLElement {
    const r = row.rec;
    if (r.gap) {
      return h("div", { class: "row gap", role: "alert" }, h("span", { class: "ln" }, "⚠"), h("span", { class: "msg" }, r.gap));
    }
    const cls = ["row", sevClass(r.severity_number)];
    if (isStderr(r)) cls.push("stderr");
    if (this.hlFrom !== null && r.seq >= this.hlFrom && r.seq <= (this.hlTo ?? this.hlFrom)) cls.push("hl");
    if (this.current !== null && r.seq === this.current) cls.push("current");
    if (row.group) cls.push("group-head");
    const el = h("div", { class: cls.filter(Boolean).join(" "), "data-seq": String(r.seq) });
    el.append(h("a", { class: "ln", href: `#L${r.seq}`, "data-seq": String(r.seq) }, r.seq ? String(r.seq) : "·"));
    el.append(h("span", { class: "io", title: isStderr(r) ? "stderr" : undefined }, isStderr(r) ? "▌" : ""));
    if (this.timestamps !== "off") el.append(h("span", { class: "ts" }, this.stamp(r)));
    if (this.showTask && r.task_name !== undefined) {
      const name = r.task_name || r.task_run_id || "";
      const t = h("a", { class: "task", href: `/tasks/${encodeURIComponent(r.task_run_id ?? "")}` }, name);
      t.style.color = colourFor(name);
      el.append(t);
    }
    if (row.depth) el.append(h("span", { class: "indent" }, "  ".repeat(row.depth)));
    const msg = h("span", { class: "msg" });
    if (row.group) {
      const g = row.group;
      const name = g.name.replace(/^\u0000bk/, "");
      msg.append(h("span", { class: "fold", "data-group": String(g.seq) }, g.open ? "▾ " : "▸ "));
      renderSegments(msg, parseAnsi(name), this.marks(name));
      const dur = g.startMs !== null && g.endMs !== null ? fmtDuration(g.endMs - g.startMs) : "";
      if (dur) msg.append(h("span", { class: "dur" }, ` ${dur}`));
      if (g.hasError) msg.append(h("span", { class: "badge err" }, " error"));
    } else {
      renderSegments(msg, parseAnsi(r.body ?? ""), this.marks(plain(r)));
    }
    el.append(msg);
    if (row.count > 1) el.append(h("span", { class: "repeat", title: `${row.count} identical lines` }, `×${row.count}`));
    return el;
  }

  private marks(text: string): [number, number][] {
    const re = this.search;
    if (!re) return [];
    const out: [number, number][] = [];
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) && out.length < 100) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      out.push([m.index, m.index + m[0].length]);
    }
    return out;
  }

  private stamp(r: ViewRecord): string {
    const ms = msOf(r);
    if (ms === null) return "";
    if (this.timestamps === "relative" && this.startMs !== null) {
      const d = Math.max(0, ms - this.startMs) / 1000;
      const m = Math.floor(d / 60);
      return `+${String(m).padStart(2, "0")}:${(d % 60).toFixed(3).padStart(6, "0")}`;
    }
    if (r.time) return r.time.replace("T", " ").replace(/(\.\d{3})\d*Z$/, "$1Z");
    return new Date(ms).toISOString().replace("T", " ");
  }

  private onClick(ev: MouseEvent): void {
    const target = ev.target as HTMLElement;
    const fold = target.closest(".fold, .group-head .msg") as HTMLElement | null;
    const ln = target.closest("a.ln") as HTMLElement | null;
    if (ln) {
      ev.preventDefault();
      const seq = Number(ln.dataset.seq);
      if (seq) this.hooks.lineClicked?.(seq, ev.shiftKey);
      return;
    }
    if (fold) {
      const head = fold.closest(".row") as HTMLElement;
      const seq = Number(head.dataset.seq);
      const row = this.rows.find((r) => r.group && r.seq === seq);
      if (row?.group) {
        this.groupState.set(row.group.seq, !row.group.open);
        this.invalidate();
      }
    }
  }

  focus(): void {
    this.scroller.focus();
  }
}
