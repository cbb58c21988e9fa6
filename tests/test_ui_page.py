"""The status page in a real headless browser: Debian's chromium (/usr/bin/chromium), driven by Playwright
for Python against the system browser (no browser download). ``make test`` / .ci/run install it.

Set BRIDGE_UI_SCREENSHOT=path.png to keep a screenshot of the page (README's docs/status-page.png).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.servers.bridge_process import BridgeProcess
from tests.ui_scenario import SECRET, TOKEN, Scenario, dataset_urns, job_urn, translated
from tests.waiting import wait_until

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: `apt-get install -y chromium` (make test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900})
        context.set_default_timeout(20_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def _log_in(page, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token-input", "wrong")
    page.click("#login button")
    page.wait_for_function("document.getElementById('login-error').textContent.includes('not valid')")
    page.fill("#token-input", TOKEN)
    page.click("#login button")
    page.wait_for_selector("body[data-ready='1']")


def _graph(page) -> tuple[set[str], set[tuple[str, str]]]:
    nodes = page.evaluate("window.cy.nodes().map(n => n.id())")
    edges = page.evaluate("window.cy.edges().map(e => [e.source().id(), e.target().id()])")
    return set(nodes), {tuple(e) for e in edges}


def test_page_shows_runs_mcps_dead_letters_retry_and_lineage(browser, tmp_path):
    page = browser
    scenario = Scenario(tmp_path / "state")
    try:
        scenario.post_all()
        _log_in(page, scenario.url)

        # Now: the counters, refreshed by the page itself.
        total = len(scenario.events) + 1
        page.wait_for_function(f"document.querySelector('#counter-received .value').textContent === '{total}'")
        assert page.inner_text("#counter-dead .value") == "1"

        # Runs: click the copy task's run, see its MCPs and where each dataset URN came from.
        copy_event = scenario.events[4]
        page.click(f"tr.run[data-run-id='{copy_event['run']['runId']}']")
        page.wait_for_selector("#run-detail:not([hidden]) article.event")
        complete = page.locator("article.event", has_text="COMPLETE")
        shown = complete.locator("tr.mcp td:first-child").all_inner_texts()
        assert shown == [m.entity_urn for m in translated(copy_event)]
        assert set(complete.locator("tr.mcp").evaluate_all("rows => rows.map(r => r.dataset.status)")) == {"delivered"}
        rules = complete.locator("tr.dataset td.rule").all_inner_texts()
        assert rules and all(rule.startswith("the namespace bigquery is the platform") for rule in rules)

        # Lineage: the run's job in the graph library, with the edges the memory holds.
        page.click("#run-job a")
        page.wait_for_function("window.cy && window.cy.nodes().length > 1")
        nodes, edges = _graph(page)
        copy_job = job_urn(copy_event)
        (source,), (target,) = dataset_urns(copy_event, "inputs"), dataset_urns(copy_event, "outputs")
        upload_job, download_job = job_urn(scenario.events[2]), job_urn(scenario.events[6])
        assert {(source, copy_job), (copy_job, target), (upload_job, copy_job), (copy_job, download_job)} <= edges
        assert {copy_job, source, target, upload_job, download_job, *dataset_urns(scenario.events[2], "inputs")} <= nodes
        # Clicking a node centres the graph on it.
        page.evaluate(f"() => {{ window.cy.getElementById({target!r}).emit('tap'); }}")  # (returns nothing)
        page.wait_for_function(f"document.getElementById('graph-focus').textContent === {target!r}")

        # Search by dataset name.
        page.fill("#search", "upload_cp")
        page.press("#search", "Enter")
        page.wait_for_selector("#search-results:not([hidden]) li.found-entity")
        assert target in page.inner_text("#search-list")

        # Dead letters: the reason and the server's message; the event shown without its secret.
        letter = page.locator("tr.dead")
        assert letter.count() == 1
        assert "rejected by validator" in letter.inner_text() and scenario.poison_job in letter.inner_text()
        page.click(f"tr.run[data-run-id='{scenario.poison['run']['runId']}']")
        page.wait_for_selector("article.event[data-status='dead']")
        assert page.locator("tr.mcp[data-status='rejected']").count() == 1
        assert SECRET not in page.content()
        if os.environ.get("BRIDGE_UI_SCREENSHOT"):
            page.click("#run-close")
            page.click(f"tr.run[data-run-id='{copy_event['run']['runId']}']")
            page.click("#run-job a")
            page.wait_for_function("window.cy && window.cy.nodes().length > 1")
            page.wait_for_function("document.getElementById('emitter-health').textContent === 'ok'")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=os.environ["BRIDGE_UI_SCREENSHOT"], full_page=True)

        # Retry with the token, once GMS takes the job: the dead letter goes and the run is delivered.
        scenario.gms.reject_urns.discard(scenario.poison_job)
        page.click("tr.dead button.retry")
        page.wait_for_selector("tr.dead", state="detached")
        wait_until(lambda: scenario.get("/ui/api/now")["counters"]["delivered"] == total, timeout=30,
                   what="the retried event was not delivered")
        page.click(f"tr.run[data-run-id='{scenario.poison['run']['runId']}']")
        page.wait_for_selector("article.event[data-status='delivered']")
    finally:
        scenario.stop()


def test_bridge_ui_page_over_a_state_dir_without_a_server(browser, tmp_path):
    scenario = Scenario(tmp_path / "state")
    try:
        scenario.post_all()
    finally:
        scenario.stop()
    ui = BridgeProcess(tmp_path / "state", "--bridge-token", TOKEN, command="ui").start()
    try:
        page = browser
        _log_in(page, ui.url)
        assert "no server" in page.inner_text("#mode")
        assert page.locator("#counter-received").count() == 0  # live counters need a running server
        assert page.inner_text("#counter-dead .value") == "1"
        assert page.locator("tr.run").count() == len({e["run"]["runId"] for e in scenario.events}) + 1
        page.fill("#search", "BQ.copy")
        page.press("#search", "Enter")
        page.locator("#search-list li.found-entity a").first.click()
        page.wait_for_function("window.cy && window.cy.nodes().length > 1")
        nodes, _ = _graph(page)
        assert job_urn(scenario.events[4]) in nodes
    finally:
        ui.stop()
