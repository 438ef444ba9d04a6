// The single-page app: a router over /, /runs/{id}, /tasks/{id}, and the sign-in form.
import { ApiError, apiGet, getToken, setToken } from "./api";
import { clear, h } from "./dom";
import { failed, Page, runPage, runsPage, taskPage } from "./pages";

const root = document.getElementById("app") as HTMLElement;
const crumbs = document.getElementById("crumbs") as HTMLElement;
const signout = document.getElementById("signout") as HTMLButtonElement;
let page: Page | null = null;

function signIn(reason: string): void {
  page?.destroy();
  page = null;
  clear(root);
  const input = h("input", { type: "password", name: "token", placeholder: "API token", autocomplete: "off", "aria-label": "token" });
  const form = h("form", { class: "signin" }, h("h1", {}, "Sign in"), h("p", { class: "muted" }, reason), input, h("button", { type: "submit" }, "sign in"),
    h("p", { class: "muted" }, "The token is kept for this tab only (sessionStorage)."));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    void route();
  });
  root.append(form);
  input.focus();
}

async function route(): Promise<void> {
  routed = window.location.pathname + window.location.search;
  page?.destroy();
  page = null;
  signout.hidden = !getToken();
  const path = decodeURIComponent(window.location.pathname);
  try {
    let m: RegExpExecArray | null;
    if ((m = /^\/tasks\/(.+)$/.exec(path))) page = await taskPage(root, m[1], crumbs);
    else if ((m = /^\/runs\/(.+)$/.exec(path))) page = await runPage(root, m[1], crumbs);
    else page = await runsPage(root, crumbs);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) signIn(getToken() ? "That token was refused." : "This server needs a token.");
    else {
      page = failed(root, e);
      if (e instanceof ApiError && e.status === 404) waitFor(path);
    }
  }
}

/** A task or run that is not there (yet): look again every few seconds, and open it once
 * it is (another tenant's looks the same as one that has not started: it never opens). */
function waitFor(path: string): void {
  root.querySelector(".notfound")?.append(h("p", { class: "muted" }, "Looking again every 3 s…"));
  const api = `/api/v1${window.location.pathname}/logs`;
  const timer = window.setInterval(async () => {
    if (decodeURIComponent(window.location.pathname) !== path) return window.clearInterval(timer);
    try {
      const resp = await apiGet<{ records: unknown[] }>(api, { limit: 1 });
      if (resp.records.length) {
        window.clearInterval(timer);
        void route();
      }
    } catch {
      /* still not there */
    }
  }, 3000);
  const prev = page;
  page = { destroy: () => { window.clearInterval(timer); prev?.destroy(); } };
}

window.addEventListener("tasklogs:unauthorized", () => {
  if (!root.querySelector("form.signin")) signIn(getToken() ? "That token was refused." : "This server needs a token.");
});
signout.addEventListener("click", () => {
  setToken(null);
  void route();
});
// In-app links: no full reload between pages.
document.addEventListener("click", (ev) => {
  const a = (ev.target as HTMLElement).closest("a");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
  if (url.pathname === window.location.pathname && url.hash) return;
  ev.preventDefault();
  history.pushState(null, "", url.pathname + url.search + url.hash);
  void route();
});
// A fragment navigation (a permalink, ``location.hash = ...``) fires popstate too: the
// page stays, its log panel follows the hash (hashchange); only a new path re-routes.
let routed = window.location.pathname + window.location.search;
window.addEventListener("popstate", () => {
  const at = window.location.pathname + window.location.search;
  if (at === routed) return;
  void route();
});
void route();
