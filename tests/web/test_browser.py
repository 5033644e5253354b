"""The admin page in headless Chromium (Playwright driving Debian's /usr/bin/chromium; no browser download).

Everything behind the page is real: a files source synced into an embedded Qdrant Edge store with
the real model, the SQLite state store, answers logged through the Slack surface's wrapper. A person's
path: sign in, see the source with its documents, press Resync, see the request appear; then the
questions, knowledge gaps (with why each went unanswered, the closest source and the thread's link),
knowledge health (run a check, read the report) and drafts pages. Screenshots go to test-artifacts/admin/ (git-ignored).

Skips with the reason when Playwright or Chromium is missing (``.ci/run`` installs Debian's chromium).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.answer.context import answer_ref
from bot.health.origin import asked_in
from bot.models import Audience
from bot.runtime import Runtime
from bot.serve import HttpServer, asgi_app, build_routes, metered_answers
from bot.settings import Settings
from bot.web.metrics import Metrics
from tests.support.web import ADMIN_TOKEN, write_sources

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin"
#: Flags that keep Chromium off the network and working as root in a container (see the machine notes).
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--metrics-recording-only", "--mute-audio"]

THREAD = "https://parcelly.slack.com/archives/C0AGENT1/p1759300001000200"
KB = {
    "void-a-label.md": "# Void a label\n\nOpen the shipment, click **Void label** and confirm. Voided labels are "
                       "refunded to your balance within 3 business days.\n",
    "reset-password.md": "# Reset your password\n\nClick **Forgot password?** on the sign-in page. The link in the "
                         "email is valid for 60 minutes.\n",
    "add-team-member.md": "# Add a team member\n\nGo to Settings > Team, click **Invite** and enter their email "
                          "address. Admins can change roles later.\n",
}


def chromium_path() -> str:
    found = os.environ.get("HELPDESK_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("Chromium is not installed: apt-get install -y chromium (Debian; .ci/run does this as root)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(tmp_path: Path, embedder: Any) -> Iterator[tuple[str, Runtime]]:
    sources = write_sources(tmp_path)  # "help-center" (the kb folder) and "docs-site"
    for name, text in KB.items():
        (tmp_path / "kb" / name).write_text(text, encoding="utf-8")
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", sources_file=sources, sample_kb=False,  # type: ignore[call-arg]
                        admin_token=ADMIN_TOKEN, embed_threads=2, gap_similarity=0.6)
    rt = Runtime(settings, embedder=embedder)
    assert rt.syncs.run("help-center") is not None
    failed = rt.state.ledger.start_run("docs-site")
    rt.state.ledger.finish_run(failed, status="failed", stats={}, error="TransientError: connection refused (http://127.0.0.1:9/)")

    # Answers through the Slack surface's wrapper: logged with the answer id feedback is recorded under.
    slack = metered_answers(rt, settings, Metrics(process=False), "slack")
    with answer_ref("ans-void"):
        slack.answer("How do I void a label?", Audience.CUSTOMER)
    for q in ("Do you ship to Antarctica?", "Can I send parcels to Antarctica?"):
        with asked_in(THREAD):  # the Slack surface files each question with its thread's permalink
            slack.answer(q, Audience.CUSTOMER)
    slack.answer("What is your office dog called?", Audience.CUSTOMER)
    with answer_ref("ans-team"):
        slack.answer("How can I invite a colleague to my account?", Audience.AGENT)
    rt.state.feedback.record_feedback(answer_id="ans-void", user="U1", helpful=True)
    rt.state.feedback.record_feedback(answer_id="ans-team", user="U2", helpful=False)
    rt.state.drafts.record_draft(provider="zendesk", ticket_id="4242", source_event="zendesk:event:1", note_id="9001",
                                 confidence=0.71, abstained=False)

    closers: list[Any] = []
    metrics = Metrics(process=False)
    server = HttpServer(asgi_app(build_routes(rt, settings, role="web", metrics=metrics, closers=closers)),
                        host="127.0.0.1", port=0).start()
    try:
        yield server.url, rt
    finally:
        server.stop()
        for close in closers:
            close()
        rt.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_admin_signs_in_sees_a_source_requests_a_resync_and_reads_questions_gaps_drafts(browser: Any, site: Any) -> None:
    url, rt = site
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(f"{url}/admin")
        assert page.url.endswith("/admin/login")
        shot(page, "01-login")
        page.fill("#token", "not-the-token-at-all")
        page.click("button[type=submit]")
        assert "Wrong token" in page.inner_text("main")

        page.fill("#token", ADMIN_TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/admin")
        [session] = [c for c in context.cookies() if c["name"] == "helpdesk_admin"]
        assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/admin"

        row = page.locator('tr[data-source="help-center"]')
        assert row.locator("td").nth(4).inner_text() == "ok"
        assert row.locator("td").nth(5).inner_text() == str(len(KB))  # documents in the store
        failed = page.locator('tr[data-source="docs-site"]')
        assert "connection refused" in failed.inner_text() and failed.locator("td").nth(4).inner_text() == "failed"
        assert "No resync requests yet" in page.inner_text("#resync-requests")
        shot(page, "02-sources")

        row.locator("button", has_text="Resync").click()
        page.wait_for_url("**/admin?requested=help-center*")
        assert "Resync of help-center requested" in page.inner_text(".flash")
        request_row = page.locator("#resync-requests tbody tr").first
        assert "help-center" in request_row.inner_text() and "pending" in request_row.inner_text()
        assert "admin page" in request_row.inner_text()
        shot(page, "03-resync-requested")
        assert rt.state.ledger.take_resync_requests() == [("help-center", False)]  # what the scheduler will pick up

        page.click("text=Questions")
        page.wait_for_url(f"{url}/admin/questions")
        questions = page.inner_text("#questions")
        assert "How do I void a label?" in questions and "Do you ship to Antarctica?" in questions
        assert "1 helpful" in questions and "abstained" in questions
        shot(page, "04-questions")

        page.click("text=Knowledge gaps")
        page.wait_for_url(f"{url}/admin/gaps")
        first = page.locator("#gaps tbody tr").first
        assert first.locator("td").first.inner_text() == "2" and "Antarctica" in first.inner_text()
        gaps = page.inner_text("#gaps")
        assert "invite a colleague" in gaps  # voted not helpful
        assert "How do I void a label?" not in gaps
        # Why it stayed silent, the source that came closest, and the way back to the Slack thread.
        assert first.get_attribute("data-reason") == "below_gate"
        assert "No source close enough to answer" in first.inner_text()
        assert "score 0." in first.locator("td.closest").inner_text()
        assert first.locator("td.where a").first.get_attribute("href") == THREAD
        assert page.locator('#gaps tr[data-reason="not_helpful"]').count() == 1
        shot(page, "05-knowledge-gaps")

        page.click("text=Knowledge health")
        page.wait_for_url(f"{url}/admin/health")
        assert "No report yet" in page.inner_text("main")
        page.click("button:has-text('Check now')")
        page.wait_for_url("**/admin/health?started=1")
        assert "Check started" in page.inner_text(".flash")
        deadline = time.monotonic() + 60
        while "Report of" not in page.inner_text("main") and time.monotonic() < deadline:
            time.sleep(0.5)
            page.reload()
        assert "Report of" in page.inner_text("main") and "(admin page)" in page.inner_text("main")
        assert "No contradictions found." in page.inner_text("#contradictions")  # no tickets in this help center
        shot(page, "06-knowledge-health")

        page.click("text=Drafts")
        page.wait_for_url(f"{url}/admin/drafts")
        assert "4242" in page.inner_text("#drafts") and "posted (9001)" in page.inner_text("#drafts")
        shot(page, "07-drafts")

        page.click("text=Log out")
        page.wait_for_url(f"{url}/admin/login")
        page.goto(f"{url}/admin/questions")
        assert page.url.endswith("/admin/login")
    finally:
        context.close()
