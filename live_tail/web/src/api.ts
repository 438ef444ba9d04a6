// The read API client (docs/read-api.md): bearer token for the tab, stream tokens for
// EventSource, one error type with the HTTP status.
const TOKEN_KEY = "tasklogs.token";

export class ApiError extends Error {
  constructor(readonly status: number, readonly detail: string) {
    super(`${status}: ${detail}`);
  }
  /** The route itself is missing (an older server), not the task or run. */
  get missingRoute(): boolean {
    return this.status === 404 && this.detail === "Not Found";
  }
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export type Params = Record<string, string | number | boolean | null | undefined | string[]>;

export function query(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function apiGet<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(path + query(params), { headers, signal });
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const body = await resp.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch {
      /* not JSON */
    }
    if (resp.status === 401) window.dispatchEvent(new CustomEvent("tasklogs:unauthorized"));
    throw new ApiError(resp.status, detail);
  }
  return (await resp.json()) as T;
}

/** A short-lived query token for EventSource and download links (null when signed out). */
export async function queryToken(): Promise<string | null> {
  const token = getToken();
  if (!token) return null;
  const resp = await fetch("/api/v1/auth/stream-token", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  if (resp.status === 401) {
    window.dispatchEvent(new CustomEvent("tasklogs:unauthorized"));
    throw new ApiError(401, "unknown token");
  }
  if (!resp.ok) throw new ApiError(resp.status, resp.statusText);
  return ((await resp.json()) as { access_token: string }).access_token;
}

export async function signedUrl(path: string, params: Params = {}): Promise<string> {
  const token = await queryToken();
  return path + query({ ...params, access_token: token });
}

// Shapes of docs/read-api.md (the fields the viewer reads; older servers lack some).
export interface LogRecord {
  seq: number;
  cursor?: string;
  time?: string;
  timestamp_ns?: number;
  severity_text?: string;
  severity_number?: number;
  body: string;
  task_run_id?: string;
  task_name?: string;
  event_name?: string;
  log_attributes?: Record<string, string>;
  attributes?: Record<string, string>;
  resource_attributes?: Record<string, string>;
  scope_name?: string;
}

export interface HistoryPage {
  records: LogRecord[];
  next_cursor: string | null;
  prev_cursor?: string | null;
}

export interface SearchResult {
  total: number;
  matches: { seq: number; cursor: string; task_run_id: string }[];
}

export interface TaskSummary {
  task_run_id: string;
  run_id: string;
  pipeline_name: string;
  task_name: string;
  service_name: string;
  attempt: number | string | null;
  status: string;
  exit_code: number | null;
  start: string;
  end: string | null;
  duration_ms: number | null;
  line_count: number;
  error_count: number;
  first_error_seq: number | null;
  max_seq: number;
}

export interface RunSummary {
  run_id: string;
  pipeline_name: string;
  status: string;
  start: string;
  end: string | null;
  duration_ms: number | null;
  task_count: number;
  tasks_by_status: Record<string, number>;
  line_count: number;
  error_count: number;
}

export interface EndEvent {
  task_run_id: string;
  result: string;
  exit_code: number | null;
  seq: number;
  time?: string;
  timestamp_ns?: number;
}

export interface GapEvent {
  what: string;
  reason: string;
  from_seq?: number;
  to_seq?: number;
}

/** Milliseconds since the epoch of a record (RFC 3339 `time`, else the ns integer). */
export function recordMs(r: { time?: string; timestamp_ns?: number }): number | null {
  if (r.time) {
    const t = Date.parse(r.time);
    if (!isNaN(t)) return t;
  }
  return typeof r.timestamp_ns === "number" ? r.timestamp_ns / 1e6 : null;
}

export function attrsOf(r: LogRecord): Record<string, string> {
  return r.log_attributes ?? r.attributes ?? {};
}

export const STATUS_OF_RESULT: Record<string, string> = {
  success: "succeeded",
  failure: "failed",
  error: "failed",
  timeout: "failed",
  cancellation: "cancelled",
  skip: "cancelled",
};
