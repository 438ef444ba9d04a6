// Section markers of the common CI systems, read off a line's plain text.
export type Marker =
  | { kind: "start"; name: string; style: "gh" | "gl" | "bk"; open?: boolean; key?: string }
  | { kind: "end"; style: "gh" | "gl"; key?: string }
  | { kind: "reopen" };

const GL_START = /section_start:\d+:([A-Za-z0-9_.-]+)(\[([^\]]*)\])?\r?(.*)$/;
const GL_END = /section_end:\d+:([A-Za-z0-9_.-]+)/;

export function groupMarker(plain: string): Marker | null {
  const c = plain.charCodeAt(0);
  if (c === 58 /* : */) {
    if (plain.startsWith("::group::")) return { kind: "start", name: plain.slice(9).trim() || "group", style: "gh" };
    if (plain.startsWith("::endgroup::")) return { kind: "end", style: "gh" };
    return null;
  }
  if (plain.length >= 3 && (c === 45 || c === 43 || c === 126 || c === 94)) {
    const head = plain.slice(0, 4);
    if (head === "--- " || head === "~~~ ") return { kind: "start", name: plain.slice(4).trim(), style: "bk", open: false };
    if (head === "+++ ") return { kind: "start", name: plain.slice(4).trim(), style: "bk", open: true };
    if (plain.startsWith("^^^ +++")) return { kind: "reopen" };
  }
  if (plain.indexOf("section_") >= 0) {
    let m = GL_START.exec(plain);
    if (m) {
      const opts = m[3] ?? "";
      const header = m[4].replace(/^\x1b\[0K/, "").trim();
      return { kind: "start", name: header || m[1], style: "gl", key: m[1], open: !/collapsed=true/.test(opts) };
    }
    m = GL_END.exec(plain);
    if (m) return { kind: "end", style: "gl", key: m[1] };
  }
  return null;
}
