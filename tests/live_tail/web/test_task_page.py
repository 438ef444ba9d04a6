"""The task page in real headless Chromium against a real `tasklogs serve`: history then
live, follow/pause, reconnect after a restart, end banner, ANSI, text-only rendering,
permalinks, groups, search, errors, repeats, tenancy."""

from __future__ import annotations

import uuid

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.live_tail.web.conftest import ACME, UMBRELLA, Viewer, shot


def seqs_in_view(page: Page) -> list[int]:
    """The seqs of the log rows in the DOM (those in sight)."""
    return [
        int(s)
        for s in page.locator(".row[data-seq]:not(.placeholder)").evaluate_all(
            "els => els.map(e => e.dataset.seq)"
        )
    ]


def msg(page: Page, text: str) -> Locator:
    return page.locator(".row .msg", has_text=text)


def seq_of(viewer: Viewer, tid: str, body: str) -> int:
    records = viewer.svc.history(tid, ACME)
    return int(next(r["seq"] for r in records if r["body"] == body))


def test_history_then_live_then_end(viewer: Viewer, page: Page) -> None:
    task = viewer.live()
    task.write(*[f"history {i}" for i in range(1, 31)])
    viewer.wait_stored(task.tid, 30, token=ACME)
    page.goto(f"/tasks/{task.tid}")
    expect(msg(page, "history 30")).to_be_visible()
    task.write("live 31", "live 32")
    expect(msg(page, "live 32")).to_be_visible()
    assert task.end() == 0
    banner = page.get_by_test_id("end-banner")
    expect(banner).to_contain_text("succeeded")
    expect(banner).to_contain_text("exit code 0")
    expect(page.locator(".task-status .status")).to_have_text("succeeded")
    seen = seqs_in_view(page)
    assert seen == sorted(set(seen))
    shot(page, "task-page")


def test_pause_shows_the_pill_and_resume_catches_up(viewer: Viewer, page: Page) -> None:
    task = viewer.live()
    task.write(*[f"line {i}" for i in range(1, 201)])
    viewer.wait_stored(task.tid, 200, token=ACME)
    page.goto(f"/tasks/{task.tid}")
    expect(msg(page, "line 200")).to_be_visible()
    page.locator(".scroller").hover()
    page.mouse.wheel(0, -2000)
    expect(page.locator("button.follow")).to_have_text("paused")
    task.write(*[f"new {i}" for i in range(1, 6)])
    expect(page.locator(".pill")).to_have_text("5 new lines ↓")
    expect(msg(page, "new 5")).to_have_count(0)  # not scrolled away from what you read
    page.locator(".pill").click()
    expect(msg(page, "new 5")).to_be_visible()
    expect(page.locator("button.follow")).to_have_text("following")
    expect(page.locator(".pill")).to_be_hidden()
    task.write("after resume")
    expect(msg(page, "after resume")).to_be_visible()  # follows again
    task.end()


def test_reconnect_after_a_service_restart_shows_every_line_once(
    viewer: Viewer, context: BrowserContext
) -> None:
    context.add_init_script(f"sessionStorage.setItem('tasklogs.token', {ACME!r})")
    page = context.new_page()
    page.set_viewport_size({"width": 1200, "height": 1600})
    task = viewer.live()
    task.write(*[f"before {i}" for i in range(1, 11)])
    viewer.wait_stored(task.tid, 10, token=ACME)
    page.goto(f"/tasks/{task.tid}")
    expect(msg(page, "before 10")).to_be_visible()
    viewer.svc.stop()
    expect(page.locator(".banner.warn")).to_contain_text("disconnected")
    viewer.svc.restart(viewer.config)
    task.write(*[f"after {i}" for i in range(1, 11)])
    expect(msg(page, "after 10")).to_be_visible(timeout=60_000)
    expect(page.locator(".banner.warn")).to_be_hidden()
    task.end()
    expect(page.get_by_test_id("end-banner")).to_be_visible(timeout=30_000)
    bodies = page.locator(".row .msg").all_inner_texts()
    wanted = [f"before {i}" for i in range(1, 11)] + [f"after {i}" for i in range(1, 11)]
    assert [b for b in bodies if b in wanted] == wanted  # each once, in order
    seen = seqs_in_view(page)
    assert seen == sorted(set(seen))
    page.close()


def test_ansi_colours_and_text_only_rendering(viewer: Viewer, page: Page) -> None:
    esc = "\\033"
    script = (
        f"printf '{esc}[31mred{esc}[0m {esc}[38;5;208morange{esc}[0m "
        f"{esc}[38;2;10;200;30mtrue{esc}[0m {esc}[1;3;4mstyled{esc}[0m\\n'\n"
        f"printf '{esc}]8;;https://example.com/doc{esc}\\\\the docs{esc}]8;;{esc}\\\\ and "
        f"{esc}]8;;javascript:alert(2){esc}\\\\bad{esc}]8;;{esc}\\\\\\n'\n"
        "echo '<img src=x onerror=alert(1)> <script>alert(3)</script> &amp;'\n"
    )
    tid = viewer.run(script)
    page.goto(f"/tasks/{tid}")
    row = page.locator(".row", has_text="orange")
    expect(row).to_be_visible()
    color = "el => getComputedStyle(el).color"
    assert row.get_by_text("red", exact=True).evaluate(color) == "rgb(187, 0, 0)"
    assert row.get_by_text("orange", exact=True).evaluate(color) == "rgb(255, 135, 0)"
    assert row.get_by_text("true", exact=True).evaluate(color) == "rgb(10, 200, 30)"
    styled = row.get_by_text("styled", exact=True)
    assert styled.evaluate("el => getComputedStyle(el).fontWeight") == "700"
    assert styled.evaluate("el => getComputedStyle(el).fontStyle") == "italic"
    assert "underline" in styled.evaluate("el => getComputedStyle(el).textDecorationLine")
    link = page.locator(".row a", has_text="the docs")
    assert link.get_attribute("href") == "https://example.com/doc"
    assert page.locator(".row a", has_text="bad").count() == 0  # javascript: is no link
    evil = page.locator(".row .msg", has_text="onerror")
    expect(evil).to_have_text("<img src=x onerror=alert(1)> <script>alert(3)</script> &amp;")
    assert page.locator(".rows img, .rows script").count() == 0
    # The page fixture fails the test on any dialog (alert) or script error.


def test_permalink_range_opens_there_and_highlights(viewer: Viewer, page: Page) -> None:
    tid = viewer.run("i=1; while [ $i -le 3000 ]; do echo row $i; i=$((i+1)); done")
    viewer.wait_stored(tid, 3002)
    first = seq_of(viewer, tid, "row 1200")
    page.goto(f"/tasks/{tid}#L{first}-L{first + 20}")
    expect(msg(page, "row 1200")).to_be_visible()
    hl = page.locator(".row.hl")
    expect(hl).to_have_count(21)
    assert hl.first.get_attribute("data-seq") == str(first)
    expect(page.locator(".row.hl .msg").last).to_have_text("row 1220")
    # Click a line number, shift-click another: the URL names the range.
    page.locator(f'.row[data-seq="{first + 2}"] a.ln').click()
    page.locator(f'.row[data-seq="{first + 5}"] a.ln').click(modifiers=["Shift"])
    assert page.evaluate("location.hash") == f"#L{first + 2}-L{first + 5}"
    expect(page.locator(".row.hl")).to_have_count(4)
    shot(page, "task-permalink")


def test_groups_fold_and_an_error_opens_its_group(viewer: Viewer, page: Page) -> None:
    script = r"""
echo '::group::Install deps'
echo 'dep a'; echo 'dep b'
echo '::endgroup::'
echo '::group::Run tests'
echo 'test ok'; sleep 0.3; echo 'test broke' >&2; sleep 0.3
echo '::endgroup::'
printf '\033[0Ksection_start:1700000000:gl_job[collapsed=true] GitLab section\n'
echo 'gl inside'
printf '\033[0Ksection_end:1700000001:gl_job\n'
echo 'after all'
echo '--- Buildkite step'
echo 'bk inside'
"""
    # (`tasklogs run` keeps what follows a carriage return, as a terminal shows it: the
    # GitLab markers here go without one.)
    tid = viewer.run(script)
    page.goto(f"/tasks/{tid}")
    expect(msg(page, "after all")).to_be_visible()
    install = page.locator(".row.group-head", has_text="Install deps")
    expect(install).to_be_visible()
    expect(msg(page, "dep a")).to_have_count(0)  # folded
    expect(msg(page, "test broke")).to_be_visible()  # its group holds an error: open
    expect(page.locator(".row.group-head", has_text="Run tests")).to_contain_text("error")
    expect(msg(page, "bk inside")).to_have_count(0)  # a Buildkite section runs to the end
    expect(page.locator(".row.group-head", has_text="Buildkite step")).to_be_visible()
    expect(msg(page, "task ended")).to_be_visible()  # the end closes every section
    expect(msg(page, "gl inside")).to_have_count(0)
    expect(page.locator(".row.group-head", has_text="GitLab section")).to_be_visible()
    assert page.locator(".row .msg", has_text="::endgroup::").count() == 0
    install.locator(".msg").click()
    expect(msg(page, "dep a")).to_be_visible()
    expect(msg(page, "dep b")).to_be_visible()
    shot(page, "task-groups")


def test_repeated_lines_fold_with_a_live_count(viewer: Viewer, page: Page) -> None:
    task = viewer.live()
    task.write("start", *["waiting for db"] * 5)
    viewer.wait_stored(task.tid, 6, token=ACME)
    page.goto(f"/tasks/{task.tid}")
    row = page.locator(".row", has_text="waiting for db")
    expect(row).to_have_count(1)
    expect(row.locator(".repeat")).to_have_text("\u00d75")
    task.write("waiting for db", "waiting for db")
    expect(row.locator(".repeat")).to_have_text("\u00d77")
    task.write("db up")
    expect(msg(page, "db up")).to_be_visible()
    task.end()


def test_first_error_and_next_error_jump(viewer: Viewer, page: Page) -> None:
    script = (
        "i=1; while [ $i -le 2500 ]; do echo ok $i; "
        "[ $i = 300 ] && echo 'first failure' >&2; "
        "[ $i = 1800 ] && echo 'Traceback (most recent call last)'; "
        "i=$((i+1)); done"
    )
    tid = viewer.run(script)
    viewer.wait_stored(tid, 2502)
    # stdout and stderr are two pipes: on a loaded machine the stderr line may be read
    # after all of stdout, so the order of the two errors is the stored seq order.
    errors = sorted(
        (seq_of(viewer, tid, body), body)
        for body in ("first failure", "Traceback (most recent call last)")
    )
    page.goto(f"/tasks/{tid}")
    expect(msg(page, "ok 2500")).to_be_visible()
    page.get_by_role("button", name="first error").click()
    expect(page.locator(".row.current", has_text=errors[0][1])).to_be_visible()
    page.keyboard.press("e")
    expect(page.locator(".row.current", has_text=errors[1][1])).to_be_visible()


def test_whole_log_search_counts_and_jumps(viewer: Viewer, page: Page) -> None:
    tid = viewer.run(
        "i=1; while [ $i -le 3000 ]; do "
        "if [ $((i % 100)) = 0 ]; then echo needle $i; else echo hay $i; fi; i=$((i+1)); done"
    )
    page.goto(f"/tasks/{tid}")
    expect(msg(page, "hay 2999")).to_be_visible()
    page.keyboard.press("/")
    page.keyboard.type("NEEDLE")
    page.keyboard.press("Enter")
    count = page.get_by_test_id("search-count")
    # The first match from where the view is (the tail), then n wraps to the top.
    expect(count).to_have_text("30 / 30")
    expect(page.locator(".row.current mark")).to_have_text("needle")
    page.locator(".scroller").focus()
    page.keyboard.press("n")
    expect(count).to_have_text("1 / 30")
    expect(page.locator(".row.current .msg")).to_have_text("needle 100")  # not loaded before
    page.keyboard.press("n")
    expect(count).to_have_text("2 / 30")
    expect(page.locator(".row.current .msg")).to_have_text("needle 200")
    page.keyboard.press("N")
    page.keyboard.press("N")
    expect(count).to_have_text("30 / 30")
    expect(page.locator(".row.current .msg")).to_have_text("needle 3000")
    shot(page, "task-search")


def test_another_tenants_task_is_not_found(viewer: Viewer, page: Page) -> None:
    tid = viewer.run("echo secret of umbrella", token=UMBRELLA)
    page.goto(f"/tasks/{tid}")
    expect(page.locator(".notfound")).to_contain_text("not found")
    assert page.locator(".row", has_text="secret").count() == 0
    shot(page, "task-not-found")


def test_sign_in_form_keeps_the_token_for_the_tab(viewer: Viewer, context: BrowserContext) -> None:
    page = context.new_page()
    tid = viewer.run("echo signed in")
    page.goto(f"/tasks/{tid}")
    page.get_by_label("token").fill("wrong")
    page.get_by_role("button", name="sign in").click()
    expect(page.locator("form.signin")).to_contain_text("refused")
    page.get_by_label("token").fill(ACME)
    page.get_by_role("button", name="sign in").click()
    expect(msg(page, "signed in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('tasklogs.token')") == ACME
    page.close()


def test_opens_at_the_tail_and_pages_back_to_line_one(viewer: Viewer, page: Page) -> None:
    tid = viewer.run("i=1; while [ $i -le 5000 ]; do echo row $i; i=$((i+1)); done")
    page.goto(f"/tasks/{tid}")
    expect(msg(page, "row 5000")).to_be_visible()
    in_dom = page.locator(".rows .row").count()
    assert 0 < in_dom < 100  # virtualized: only what is in sight
    # The scrollbar stands for the whole log: 5002 rows of 18 px.
    height = page.locator(".content").evaluate("el => el.getBoundingClientRect().height")
    assert height >= 5000 * 18
    page.locator(".scroller").focus()
    page.keyboard.press("g")
    expect(page.locator('.row[data-seq="1"] .msg')).to_have_text("task started")
    expect(page.get_by_text("row 1", exact=True)).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("G")
    expect(msg(page, "row 5000")).to_be_visible()


def test_toggles_and_download(viewer: Viewer, page: Page) -> None:
    tid = viewer.run("echo first; echo 'a very long line' $(seq 1 200)")
    page.goto(f"/tasks/{tid}")
    expect(msg(page, "first")).to_be_visible()
    page.get_by_label("timestamps").select_option("absolute")
    expect(page.locator(".row .ts").first).to_contain_text(":")
    page.get_by_label("timestamps").select_option("relative")
    expect(page.locator(".row .ts").first).to_contain_text("+00:0")
    long = page.locator(".row", has_text="a very long line")
    one_line = long.evaluate("el => el.getBoundingClientRect().height")
    page.get_by_label("wrap").check()
    expect(long).not_to_have_css("height", f"{one_line}px")
    with page.expect_download() as info:
        page.locator("a.dl[data-format=text][data-ansi=strip]").click()
    text = info.value.path().read_text(encoding="utf-8")
    assert "first\n" in text
    assert "a very long line 1 2 3" in text


def test_filter_mode_shows_only_matching_lines(viewer: Viewer, page: Page) -> None:
    tid = viewer.run(
        "i=1; while [ $i -le 300 ]; do "
        "if [ $((i % 50)) = 0 ]; then echo needle $i; else echo hay $i; fi; i=$((i+1)); done"
    )
    page.goto(f"/tasks/{tid}")
    expect(msg(page, "hay 299")).to_be_visible()
    page.get_by_label("search").fill("needle")
    page.get_by_label("filter").check()
    expect(page.locator(".rows .row:not(.placeholder)")).to_have_count(6)
    assert page.locator(".rows .row .msg").all_inner_texts() == [
        f"needle {i}" for i in range(50, 301, 50)
    ]
    page.get_by_label("filter").uncheck()
    expect(msg(page, "hay 299")).to_be_visible()


def test_a_task_opened_before_it_starts_shows_it_when_it_does(viewer: Viewer, page: Page) -> None:
    tid = f"tr-later-{uuid.uuid4().hex[:8]}"
    page.goto(f"/tasks/{tid}")  # not there yet: an empty log, or "not found" (runs index)
    page.wait_for_timeout(500)
    task = viewer.live(tid=tid, name="late")
    task.write("here now")
    expect(msg(page, "here now")).to_be_visible(timeout=20_000)
    task.end()
