// The log panel shared by the task and run pages: toolbar (search, filter, toggles,
// errors, downloads), banners, the view and its feed, keyboard and permalinks.
import { ApiError, apiGet, EndEvent, LogRecord, Params, SearchResult, signedUrl } from "./api";
import { h } from "./dom";
import { Feed } from "./feed";
import { isError, LogView, plain } from "./logview";

export interface PanelOptions {
  kind: "task" | "run";
  id: string;
  showTask: boolean;
  filters?: Params;
  startMs?: number | null;
  onEnd?(end: EndEvent): void;
  onRecords?(records: LogRecord[]): void;
  firstErrorSeq?: number | null;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export class LogPanel {
  readonly el: HTMLElement;
  readonly view: LogView;
  feed: Feed;
  private readonly banner: HTMLElement;
  private readonly count: HTMLElement;
  private readonly searchBox: HTMLInputElement;
  private readonly regexBox: HTMLInputElement;
  private readonly caseBox: HTMLInputElement;
  private readonly filterBox: HTMLInputElement;
  private readonly followBtn: HTMLButtonElement;
  private matches: number[] = [];
  private matchIdx = -1;
  private total = 0;
  private anchor: number | null = null;
  private errorAt = 0;
  private readonly keyHandler = (ev: KeyboardEvent) => this.onKey(ev);
  private readonly hashHandler = () => void this.applyHash();

  constructor(readonly opts: PanelOptions) {
    this.view = new LogView({
      need: (side, seq) => this.feed.need(side, seq),
      followChanged: (f) => this.followChanged(f),
      lineClicked: (seq, shift) => this.lineClicked(seq, shift),
    });
    this.view.showTask = opts.showTask;
    this.view.startMs = opts.startMs ?? null;
    this.feed = this.makeFeed(opts.filters ?? {});
    this.banner = h("div", { class: "banner", hidden: true, role: "status" });
    this.count = h("span", { class: "count", "data-testid": "search-count" });
    this.searchBox = h("input", { type: "search", placeholder: "search the whole log  ( / )", class: "search", "aria-label": "search" });
    this.regexBox = h("input", { type: "checkbox", "aria-label": "regex" });
    this.caseBox = h("input", { type: "checkbox", "aria-label": "match case" });
    this.filterBox = h("input", { type: "checkbox", "aria-label": "filter" });
    this.followBtn = h("button", { class: "follow on", title: "follow (f)" }, "following");
    const ts = h("select", { "aria-label": "timestamps" },
      h("option", { value: "off" }, "no time"),
      h("option", { value: "absolute" }, "time"),
      h("option", { value: "relative" }, "since start"),
    );
    const wrap = h("input", { type: "checkbox", "aria-label": "wrap" });
    const firstErr = h("button", { title: "first error" }, "first error");
    const nextErr = h("button", { title: "next error (e)" }, "next error");
    const downloads = h("span", { class: "downloads" }, "download: ",
      ...[["text", "strip"], ["text", "keep"], ["ndjson", "keep"], ["csv", "strip"]].map(([format, ansi]) => {
        const a = h("a", { href: "#", class: "dl", "data-format": format, "data-ansi": ansi }, format === "text" ? `text${ansi === "keep" ? "+ansi" : ""}` : format);
        a.addEventListener("click", (ev) => {
          ev.preventDefault();
          void this.download(format, ansi);
        });
        return a;
      }),
    );
    this.searchBox.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        if (ev.shiftKey) void this.nextMatch(-1);
        else if (this.searchBox.value !== (this.searchBox.dataset.ran ?? "")) void this.runSearch();
        else void this.nextMatch(1);
      } else if (ev.key === "Escape") {
        this.searchBox.blur();
        this.view.focus();
      }
    });
    for (const box of [this.regexBox, this.caseBox]) box.addEventListener("change", () => void this.runSearch());
    this.filterBox.addEventListener("change", () => void this.applyFilter());
    ts.addEventListener("change", () => {
      this.view.timestamps = ts.value as "off" | "absolute" | "relative";
      this.view.invalidate();
    });
    wrap.addEventListener("change", () => {
      this.view.wrap = wrap.checked;
      this.view.invalidate();
    });
    this.followBtn.addEventListener("click", () => this.toggleFollow());
    firstErr.addEventListener("click", () => void this.firstError());
    nextErr.addEventListener("click", () => void this.nextError());
    const label = (box: HTMLInputElement, text: string) => h("label", { class: "toggle" }, box, text);
    const toolbar = h("div", { class: "toolbar" },
      this.searchBox, this.count, label(this.regexBox, ".*"), label(this.caseBox, "Aa"), label(this.filterBox, "filter"),
      h("span", { class: "sep" }), ts, label(wrap, "wrap"), firstErr, nextErr, this.followBtn,
      h("span", { class: "grow" }), downloads,
    );
    this.el = h("section", { class: "logpanel" }, toolbar, this.banner, this.view.el);
    document.addEventListener("keydown", this.keyHandler);
    window.addEventListener("hashchange", this.hashHandler);
  }

  private makeFeed(filters: Params): Feed {
    return new Feed(this.opts.kind, this.opts.id, this.view, filters, {
      onEnd: (end) => this.opts.onEnd?.(end),
      onRecords: (recs) => this.opts.onRecords?.(recs),
      onConnection: (state) => this.connection(state),
      onError: (e) => this.showBanner(`error: ${e instanceof Error ? e.message : String(e)}`, "error"),
    });
  }

  async open(): Promise<void> {
    await this.feed.open();
    await this.applyHash();
  }

  destroy(): void {
    this.feed.close();
    document.removeEventListener("keydown", this.keyHandler);
    window.removeEventListener("hashchange", this.hashHandler);
  }

  // ---- connection -------------------------------------------------------------------

  private connection(state: "live" | "reconnecting" | "ended"): void {
    if (state === "reconnecting") this.showBanner("disconnected — reconnecting; no line will be lost or repeated", "warn");
    else this.banner.hidden = true;
  }

  showBanner(text: string, kind: "warn" | "error" | "end" | "ok"): void {
    this.banner.hidden = false;
    this.banner.className = `banner ${kind}`;
    this.banner.textContent = text;
  }

  private followChanged(following: boolean): void {
    this.followBtn.classList.toggle("on", following);
    this.followBtn.textContent = following ? "following" : "paused";
  }

  private toggleFollow(): void {
    if (this.view.following) this.view.pause();
    else this.view.resume();
  }

  // ---- permalinks -------------------------------------------------------------------

  private lineClicked(seq: number, shift: boolean): void {
    let from = seq;
    let to = seq;
    if (shift && this.anchor !== null) {
      from = Math.min(this.anchor, seq);
      to = Math.max(this.anchor, seq);
    } else this.anchor = seq;
    const hash = from === to ? `#L${from}` : `#L${from}-L${to}`;
    history.replaceState(null, "", hash);
    this.view.hlFrom = from;
    this.view.hlTo = to;
    this.view.pause();
    this.view.invalidate();
  }

  private async applyHash(): Promise<void> {
    const m = /^#L(\d+)(?:-L?(\d+))?$/.exec(window.location.hash);
    if (!m) return;
    const from = Number(m[1]);
    const to = m[2] ? Number(m[2]) : from;
    this.view.hlFrom = Math.min(from, to);
    this.view.hlTo = Math.max(from, to);
    this.anchor = from;
    await this.jump(this.view.hlFrom, "top");
  }

  async jump(seq: number, where: "top" | "center" = "center"): Promise<void> {
    this.view.pause();
    const row = await this.feed.reveal(seq);
    if (row !== null) this.view.scrollToRow(row, where);
    this.view.invalidate();
  }

  // ---- search -----------------------------------------------------------------------

  private regex(): RegExp | null {
    const q = this.searchBox.value;
    if (!q) return null;
    try {
      return new RegExp(this.regexBox.checked ? q : escapeRe(q), this.caseBox.checked ? "g" : "gi");
    } catch {
      return null;
    }
  }

  async runSearch(): Promise<void> {
    const q = this.searchBox.value;
    this.searchBox.dataset.ran = q;
    this.view.search = this.regex();
    this.matches = [];
    this.matchIdx = -1;
    if (!q) {
      this.count.textContent = "";
      this.view.invalidate();
      if (this.filterBox.checked) await this.applyFilter();
      return;
    }
    if (this.filterBox.checked) await this.applyFilter();
    try {
      const res = await apiGet<SearchResult>(`${this.feed.base}/search`, {
        ...this.feed.filters,
        q,
        regex: this.regexBox.checked,
        case: this.caseBox.checked,
        first: 1000,
      });
      this.total = res.total;
      this.matches = res.matches.map((m) => m.seq);
      this.count.textContent = `${this.total.toLocaleString()} match${this.total === 1 ? "" : "es"}`;
    } catch (e) {
      if (!(e instanceof ApiError && e.missingRoute)) throw e;
      // No search endpoint on this server: the loaded lines only, and it says so.
      const re = this.regex();
      this.matches = re ? this.view.win.filter((r) => { re.lastIndex = 0; return re.test(plain(r)); }).map((r) => r.seq) : [];
      this.total = this.matches.length;
      this.count.textContent = `${this.total} in loaded lines`;
    }
    this.view.invalidate();
    if (this.matches.length) await this.nextMatch(1);
  }

  async nextMatch(dir: 1 | -1): Promise<void> {
    if (!this.matches.length) return;
    if (this.matchIdx < 0) {
      // The first match at or after the view's top (forward), before it (back).
      const top = this.view.topSeq();
      const i = this.matches.findIndex((s) => s >= top);
      this.matchIdx = dir > 0 ? Math.max(0, i) : (i <= 0 ? this.matches.length - 1 : i - 1);
    } else {
      this.matchIdx = (this.matchIdx + dir + this.matches.length) % this.matches.length;
    }
    const seq = this.matches[this.matchIdx];
    this.view.current = seq;
    this.count.textContent = `${this.matchIdx + 1} / ${this.total.toLocaleString()}`;
    await this.jump(seq);
  }

  private async applyFilter(): Promise<void> {
    const q = this.searchBox.value;
    const filters: Params = { ...(this.opts.filters ?? {}) };
    if (this.filterBox.checked && q) {
      if (this.regexBox.checked || this.caseBox.checked) filters.include = this.regexBox.checked ? q : escapeRe(q);
      else filters.text = q;
    }
    this.feed.close();
    this.feed = this.makeFeed(filters);
    this.view.following = true;
    await this.feed.open();
  }

  // ---- errors -----------------------------------------------------------------------

  async firstError(): Promise<void> {
    // Not the summary's first_error_seq alone: it counts ERROR and stderr lines, not
    // Python tracebacks; the server's three asks (nextError) count all three.
    this.errorAt = 0;
    await this.nextError(0);
  }

  /** The next error line after ``after`` (default: the last one jumped to, or the top). */
  async nextError(after?: number): Promise<void> {
    const from = after ?? (this.errorAt || this.view.topSeq() - 1);
    // The window answers when it holds the lines right after ``from``; else the server.
    const v = this.view;
    const covers = v.mode !== "seq" || (v.win.length > 0 && v.firstSeq <= from + 1);
    const local = covers ? v.win.find((r) => r.seq > from && isError(r)) : undefined;
    let seq = local?.seq ?? null;
    if (seq === null && this.feed.kind === "task") seq = await this.serverError(from);
    if (seq === null) {
      this.showBanner("no further error", "ok");
      window.setTimeout(() => { if (this.banner.classList.contains("ok")) this.banner.hidden = true; }, 2000);
      return;
    }
    this.errorAt = seq;
    this.view.current = seq;
    await this.jump(seq);
  }

  private async serverError(from: number): Promise<number | null> {
    const cursor = this.feed.cursorAfter(from);
    const asks: Params[] = [
      { min_severity: "ERROR", level: "ERROR" },
      { attr: ["log.iostream=stderr"] },
      { text: "Traceback (most recent call last)" },
    ];
    const seqs = await Promise.all(
      asks.map((p) =>
        apiGet<{ records: LogRecord[] }>(this.feed.base, { ...p, cursor, limit: 1 })
          .then((page) => page.records[0]?.seq ?? null)
          .catch(() => null),
      ),
    );
    const found = seqs.filter((s): s is number => s !== null && s > from);
    return found.length ? Math.min(...found) : null;
  }

  // ---- downloads --------------------------------------------------------------------

  private async download(format: string, ansi: string): Promise<void> {
    const url = await signedUrl(`${this.feed.base}/download`, { ...this.feed.filters, format, ansi });
    window.location.assign(url);
  }

  // ---- keyboard ---------------------------------------------------------------------

  private onKey(ev: KeyboardEvent): void {
    const t = ev.target as HTMLElement;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    const v = this.view;
    switch (ev.key) {
      case "j": v.scrollBy(1); break;
      case "k": v.scrollBy(-1); break;
      case "g": v.toTop(); void this.feed.need("before", 1); break;
      case "G": case "End": v.resume(); break;
      case "/": this.searchBox.focus(); this.searchBox.select(); break;
      case "n": void this.nextMatch(1); break;
      case "N": void this.nextMatch(-1); break;
      case "f": this.toggleFollow(); break;
      case "e": void this.nextError(); break;
      default: return;
    }
    ev.preventDefault();
  }
}
