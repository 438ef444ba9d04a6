"""The run and runs pages in real headless Chromium against a real `tasklogs serve`."""

from __future__ import annotations

import uuid

from playwright.sync_api import Page, expect

from tests.live_tail.web.conftest import ACME, UMBRELLA, Viewer, shot


def test_a_run_merges_its_tasks_and_a_later_task_appears(viewer: Viewer, page: Page) -> None:
    run = f"run-{uuid.uuid4().hex[:8]}"
    alpha = viewer.live(run=run, name="alpha")
    alpha.write("alpha says hi")
    viewer.wait_stored(alpha.tid, 2, token=ACME)
    page.goto(f"/runs/{run}")
    expect(page.locator(".row", has_text="alpha says hi").locator(".task")).to_have_text("alpha")
    expect(page.locator(f'tr[data-task="{alpha.tid}"]')).to_be_visible()
    # A task that starts later shows up by itself: in the table and in the merged log.
    beta = viewer.live(run=run, name="beta")
    beta.write("beta joins")
    expect(page.locator(f'tr[data-task="{beta.tid}"]')).to_be_visible(timeout=30_000)
    beta_row = page.locator(".row", has_text="beta joins")
    expect(beta_row.locator(".task")).to_have_text("beta")
    colour = "el => getComputedStyle(el).color"
    a_colour = page.locator(".row", has_text="alpha says hi").locator(".task").evaluate(colour)
    assert beta_row.locator(".task").evaluate(colour) != a_colour  # a colour per task
    alpha.write("alpha again")
    expect(page.locator(".row .msg", has_text="alpha again")).to_be_visible()
    # Filter by task: only beta's lines.
    page.get_by_label("show beta").check()
    expect(page.locator(".row .msg", has_text="beta joins")).to_be_visible()
    expect(page.locator(".row .msg", has_text="alpha")).to_have_count(0)
    assert alpha.end() == 0
    assert beta.end() == 0
    expect(page.locator(f'tr[data-task="{beta.tid}"] .status')).to_have_text(
        "succeeded", timeout=30_000
    )
    shot(page, "run-page")


def test_another_tenants_run_is_not_found(viewer: Viewer, page: Page) -> None:
    run = f"run-{uuid.uuid4().hex[:8]}"
    tid = viewer.run("echo umbrella only", token=UMBRELLA, run=run)
    viewer.wait_stored(tid, 3, token=UMBRELLA)
    page.goto(f"/runs/{run}")
    expect(page.locator(".notfound")).to_contain_text("not found")
    assert page.locator(".row", has_text="umbrella only").count() == 0


def test_runs_page_lists_runs_with_status_and_counts(viewer: Viewer, page: Page) -> None:
    run = f"run-{uuid.uuid4().hex[:8]}"
    tid = viewer.run("echo one; exit 2", run=run, name="failing")
    viewer.wait_stored(tid, 3, token=ACME)
    page.goto("/")
    row = page.locator(f'tr[data-run="{run}"]')
    expect(row).to_be_visible()
    expect(row.locator(".status")).to_have_text("failed")
    expect(row).to_contain_text("1 failed")
    # Filters: by name (q) and by status.
    page.get_by_label("filter runs").fill(run)
    expect(page.locator("tr[data-run]")).to_have_count(1)
    page.get_by_label("status").select_option("succeeded")
    expect(row).to_have_count(0)
    page.get_by_label("status").select_option("failed")
    expect(row).to_be_visible()
    shot(page, "runs-page")
    # Live: a new run appears without a reload.
    page.get_by_label("filter runs").fill("")
    page.get_by_label("status").select_option("")
    later = f"run-{uuid.uuid4().hex[:8]}"
    viewer.run("echo later", run=later)
    expect(page.locator(f'tr[data-run="{later}"]')).to_be_visible(timeout=30_000)
    row.locator("a").first.click()
    expect(page.locator(".run-page")).to_be_visible()
