// ANSI SGR (16, 256 and truecolour, bold/italic/underline...) through anser, OSC 8
// hyperlinks on top; the result is built from text nodes and styled spans only.
import Anser from "anser";

export interface Segment {
  text: string;
  fg: string | null;
  bg: string | null;
  deco: string[];
  href: string | null;
}

const LINK_MARK = "\uE000";
// OSC 8 ; params ; URI (BEL or ST). Other OSC sequences (titles...) are dropped.
const OSC = /\x1b\]([^\x07\x1b]*)(?:\x07|\x1b\\)/g;
// Control sequences anser does not take (cursor moves...) and stray C0 controls.
const STRAY = /\x1b\[[0-9;?]*[A-LN-Za-ln-z]|[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]/g;

export function hasEscapes(text: string): boolean {
  return text.indexOf("\x1b") >= 0;
}

export function stripAnsi(text: string): string {
  if (!hasEscapes(text)) return text;
  return text
    .replace(OSC, "")
    .replace(/\x1b\[[0-9;:?]*[A-Za-z]/g, "")
    .replace(/\x1b./g, "");
}

function safeHref(url: string): string | null {
  try {
    const u = new URL(url, window.location.href);
    return u.protocol === "http:" || u.protocol === "https:" || u.protocol === "mailto:"
      ? u.href
      : null;
  } catch {
    return null;
  }
}

export function parseAnsi(text: string): Segment[] {
  if (!hasEscapes(text)) return [{ text, fg: null, bg: null, deco: [], href: null }];
  const links: (string | null)[] = [];
  let src = text.split(LINK_MARK).join("\uFFFD");
  src = src.replace(OSC, (_m, body: string) => {
    if (!body.startsWith("8;")) return "";
    const uri = body.slice(2).replace(/^[^;]*;/, "");
    links.push(uri ? safeHref(uri) : null);
    return LINK_MARK;
  });
  src = src.replace(STRAY, (m) => (m.startsWith("\x1b[") && m.endsWith("m") ? m : ""));
  const parts = new Anser().ansiToJson(src, { json: true, remove_empty: true, use_classes: false });
  const out: Segment[] = [];
  let href: string | null = null;
  let li = 0;
  for (const p of parts) {
    const fg = p.fg_truecolor || p.fg;
    const bg = p.bg_truecolor || p.bg;
    const pieces = p.content.split(LINK_MARK);
    pieces.forEach((piece, i) => {
      if (i > 0) href = li < links.length ? links[li++] : null;
      if (piece) out.push({ text: piece, fg: fg || null, bg: bg || null, deco: p.decorations ?? [], href });
    });
  }
  return out;
}

/** Append ``segments`` to ``parent``; ``marks`` are [start, end) ranges of the plain text
 * to highlight (search). */
export function renderSegments(parent: HTMLElement, segments: Segment[], marks: [number, number][] = []): void {
  let pos = 0;
  let mi = 0;
  for (const seg of segments) {
    const end = pos + seg.text.length;
    let target: HTMLElement = parent;
    const styled = seg.fg || seg.bg || seg.deco.length || seg.href;
    if (styled) {
      const el = document.createElement(seg.href ? "a" : "span");
      if (seg.href) {
        (el as HTMLAnchorElement).href = seg.href;
        (el as HTMLAnchorElement).rel = "noopener noreferrer nofollow";
        (el as HTMLAnchorElement).target = "_blank";
      }
      if (seg.fg) el.style.color = `rgb(${seg.fg})`;
      if (seg.bg) el.style.backgroundColor = `rgb(${seg.bg})`;
      for (const d of seg.deco) el.classList.add(`ansi-${d}`);
      parent.append(el);
      target = el;
    }
    // Split the segment's text by the highlight ranges that cross it.
    let cur = pos;
    while (mi < marks.length && marks[mi][0] < end) {
      const [ms, me] = marks[mi];
      const s = Math.max(ms, cur);
      const e = Math.min(me, end);
      if (s > cur) target.append(document.createTextNode(seg.text.slice(cur - pos, s - pos)));
      if (e > s) {
        const mark = document.createElement("mark");
        mark.textContent = seg.text.slice(s - pos, e - pos);
        target.append(mark);
        cur = e;
      }
      if (me <= end) mi++;
      else break;
    }
    if (cur < end) target.append(document.createTextNode(seg.text.slice(cur - pos)));
    pos = end;
  }
}
