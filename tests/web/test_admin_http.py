"""The admin page over real HTTP: auth (no session, wrong token, CSRF, tampering, expiry, throttling)
and what each page shows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bot.answer.context import answer_ref
from bot.errors import ConfigError
from bot.health.origin import asked_in
from bot.models import Answer, AnswerReason, Audience, Citation, Visibility
from bot.state import StateStore
from bot.state.questions import QuestionRecord
from bot.web.admin import LOGIN_COOKIE, SESSION_COOKIE, AdminAuth
from bot.web.metrics import MeteredAnswerService, Metrics
from tests.support.web import ADMIN_TOKEN, CSRF_FIELD, WebApp


def _set_cookie(resp: httpx.Response, name: str) -> SimpleCookie:
    for header in resp.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if name in jar:
            return jar
    raise AssertionError(f"no Set-Cookie for {name}: {resp.headers.get_list('set-cookie')}")


def _login_nonce(app: WebApp) -> str:
    m = CSRF_FIELD.search(app.http.get("/admin/login").text)
    assert m
    return m.group(1)


def test_admin_page_is_off_without_a_token(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory(admin_token=None)
    for path in ("/admin", "/admin/login", "/admin/questions"):
        resp = app.http.get(path)
        assert resp.status_code == 404 and "HELPDESK_ADMIN_TOKEN" in resp.text
    assert app.http.post("/admin/sources/help-center/resync").status_code == 404


def test_a_short_token_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="too short"):
        AdminAuth("hunter2", session_s=60)


def test_without_a_session_pages_redirect_and_posts_are_refused(web_factory: Callable[..., WebApp],
                                                                state: StateStore) -> None:
    app = web_factory()
    for path in ("/admin", "/admin/questions", "/admin/gaps", "/admin/drafts"):
        resp = app.http.get(path)
        assert resp.status_code == 303 and resp.headers["location"] == "/admin/login", path
    resp = app.http.post("/admin/sources/help-center/resync", data={"csrf": "x"})
    assert resp.status_code == 401
    assert state.ledger.take_resync_requests() == []


def test_login_form_cookie_attributes_and_wrong_token(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory()
    form = app.http.get("/admin/login")
    assert form.status_code == 200 and 'type="password"' in form.text
    login = _set_cookie(form, LOGIN_COOKIE)[LOGIN_COOKIE]
    assert login["httponly"] and login["samesite"] == "strict" and login["path"] == "/admin" and not login["secure"]
    assert "script" not in form.text.lower()
    assert form.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in form.headers["content-security-policy"]

    nonce = CSRF_FIELD.search(form.text).group(1)  # type: ignore[union-attr]
    wrong = app.http.post("/admin/login", data={"csrf": nonce, "token": ADMIN_TOKEN + "x"})
    assert wrong.status_code == 401 and "Wrong token" in wrong.text
    assert SESSION_COOKIE not in app.http.cookies
    assert app.http.get("/admin").status_code == 303


def test_login_without_csrf_or_with_a_foreign_nonce_is_forbidden(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory()
    _login_nonce(app)
    assert app.http.post("/admin/login", data={"token": ADMIN_TOKEN}).status_code == 403
    assert app.http.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf": "made-up"}).status_code == 403
    fresh = httpx.Client(base_url=app.url)  # a form nonce with no matching cookie (another browser's page)
    try:
        assert fresh.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf": _login_nonce(app)}).status_code == 403
    finally:
        fresh.close()
    assert SESSION_COOKIE not in app.http.cookies


def test_login_sets_a_strict_httponly_session_and_secure_behind_https(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory()
    nonce = _login_nonce(app)
    resp = app.http.post("/admin/login", data={"csrf": nonce, "token": ADMIN_TOKEN},
                         headers={"X-Forwarded-Proto": "https"})
    assert resp.status_code == 303
    cookie = _set_cookie(resp, SESSION_COOKIE)[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "strict" and cookie["path"] == "/admin" and cookie["secure"]
    assert ADMIN_TOKEN not in cookie.value


def test_resync_needs_the_session_csrf_token_and_same_origin(web_factory: Callable[..., WebApp], state: StateStore) -> None:
    app = web_factory()
    csrf = app.login()
    assert app.http.post("/admin/sources/help-center/resync", data={}).status_code == 403
    assert app.http.post("/admin/sources/help-center/resync", data={"csrf": csrf + "x"}).status_code == 403
    evil = app.http.post("/admin/sources/help-center/resync", data={"csrf": csrf},
                         headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403
    assert state.ledger.take_resync_requests() == []

    ok = app.http.post("/admin/sources/help-center/resync", data={"csrf": csrf, "full": "1"},
                       headers={"Origin": app.url})
    assert ok.status_code == 303 and ok.headers["location"].startswith("/admin?requested=help-center")
    page = app.http.get(ok.headers["location"])
    assert "Full resync of help-center requested" in page.text
    assert 'data-request="1"' in page.text and "admin page" in page.text and "pending" in page.text
    assert state.ledger.take_resync_requests() == [("help-center", True)]
    assert "taken" in app.http.get("/admin").text

    missing = app.http.post("/admin/sources/nope/resync", data={"csrf": csrf})
    assert missing.status_code == 404 and "no source named" in missing.text


def test_tampered_and_expired_sessions_are_rejected(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory()
    app.login()
    cookie = app.http.cookies[SESSION_COOKIE]
    body, sig = cookie.split(".")
    app.http.cookies.set(SESSION_COOKIE, body + "." + sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB"), path="/admin")
    assert app.http.get("/admin").status_code == 303

    now = [1_000_000.0]
    auth = AdminAuth(ADMIN_TOKEN, session_s=3600, clock=lambda: now[0])
    value, session = auth.issue()
    assert auth.verify(value) == session
    now[0] += 3601
    assert auth.verify(value) is None
    assert AdminAuth(ADMIN_TOKEN + "-rotated", session_s=3600, clock=lambda: now[0] - 3601).verify(value) is None


def test_failed_logins_are_throttled(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory()
    nonce, codes = _login_nonce(app), []
    for i in range(11):
        resp = app.http.post("/admin/login", data={"csrf": nonce, "token": f"wrong-{i}"})
        codes.append(resp.status_code)
        nonce = CSRF_FIELD.search(resp.text).group(1)  # type: ignore[union-attr]  # each form has a new nonce
    assert codes[:10] == [401] * 10 and codes[10] == 429
    # Even the right token waits out the window now.
    assert app.http.post("/admin/login", data={"csrf": nonce, "token": ADMIN_TOKEN}).status_code == 429


def test_logout_clears_the_session(web_factory: Callable[..., WebApp]) -> None:
    app = web_factory()
    csrf = app.login()
    assert app.http.post("/admin/logout", data={}).status_code == 403
    resp = app.http.post("/admin/logout", data={"csrf": csrf})
    assert resp.status_code == 303 and resp.headers["location"] == "/admin/login"
    assert app.http.get("/admin").status_code == 303


def test_sources_page_shows_runs_lag_and_last_error(web_factory: Callable[..., WebApp], state: StateStore) -> None:
    ok = state.ledger.start_run("help-center")
    state.ledger.finish_run(ok, status="ok", stats={"added": 3})
    bad = state.ledger.start_run("docs-site")
    state.ledger.finish_run(bad, status="failed", stats={}, error="TransientError: 503 from docs.acme.example")
    app = web_factory()
    app.login()
    page = app.http.get("/admin").text
    assert 'data-source="help-center"' in page and 'data-source="docs-site"' in page
    assert "every 30 min" in page and "cron 0 3 * * *" in page
    assert "TransientError: 503 from docs.acme.example" in page and "status-failed" in page
    assert 'aria-label="Resync help-center"' in page


def _answers(state: StateStore, replies: dict[str, Answer]) -> MeteredAnswerService:
    class Inner:
        def answer(self, question: str, audience: Audience, history: object = ()) -> Answer:
            return replies[question]

    return MeteredAnswerService(lambda: Inner(), metrics=Metrics(process=False), surface="slack",  # type: ignore[arg-type,return-value]
                                questions=state.questions)


def test_questions_page_shows_answers_confidence_feedback_and_escapes_text(web_factory: Callable[..., WebApp],
                                                                          state: StateStore) -> None:
    cite = Citation(n=1, doc_id="d1", title="Void a label", url="javascript:alert(1)", source="help-center",
                    audience=Visibility.PUBLIC)
    hostile = "<script>alert('x')</script> how do I void a label?"
    answers = _answers(state, {
        hostile: Answer(text="Open the shipment and click Void [1].", citations=[cite], confidence=0.81),
        "Do you ship to Antarctica?": Answer(text="I don't know.", abstained=True, confidence=0.2, composer="none"),
    })
    with answer_ref("ans-void"):
        answers.answer(hostile, Audience.CUSTOMER)
    answers.answer("Do you ship to Antarctica?", Audience.AGENT)
    state.feedback.record_feedback(answer_id="ans-void", user="U1", helpful=True)
    state.feedback.record_feedback(answer_id="ans-void", user="U2", helpful=True)
    state.feedback.record_feedback(answer_id="ans-void", user="U2", helpful=False)  # U2 changed their mind

    app = web_factory()
    app.login()
    page = app.http.get("/admin/questions").text
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "javascript:" not in page  # a source's URL is never a script link
    assert "0.81" in page and "abstained" in page and "Antarctica" in page
    assert "1 helpful" in page and "1 not helpful" in page
    assert "2</b>questions" in page.replace("\n", "")


def test_gaps_page_groups_by_topic_and_reason_with_closest_source_and_links(
        web_factory: Callable[..., WebApp], state: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    near = Citation(n=0, doc_id="kb:shipping", title="International shipping", url="https://help.example/shipping",
                    source="kb", audience=Visibility.PUBLIC, score=0.37)
    runbook = Citation(n=0, doc_id="kb:runbook", title="Polar shipping runbook", source="kb",
                       audience=Visibility.INTERNAL, score=0.71)
    below = Answer(text="I don't know.", abstained=True, confidence=0.37, composer="none",
                   reason=AnswerReason.BELOW_GATE, closest=near)
    internal = Answer(text="I don't know.", abstained=True, confidence=0.3, composer="none",
                      reason=AnswerReason.ONLY_INTERNAL, closest=runbook)
    nothing = Answer(text="I don't know.", abstained=True, composer="none", reason=AnswerReason.NOTHING_RETRIEVED)
    fine = Answer(text="Click Void [1].", confidence=0.8,
                  citations=[Citation(n=1, doc_id="kb:void", title="Void a label", source="s", audience=Visibility.PUBLIC)])
    answers = _answers(state, {
        "ship to antarctica please": below, "ship parcels to antarctica": below, "antarctica ship": internal,
        "sap erp integration": nothing, "how do I void a label": fine, "void label refund": fine,
    })
    thread = "https://parcelly.slack.com/archives/C1/p1700000000000100"
    for q in ("ship to antarctica please", "ship parcels to antarctica"):
        with asked_in(thread):
            answers.answer(q, Audience.CUSTOMER)
    with asked_in("https://acme.zendesk.com/agent/tickets/77"):
        answers.answer("antarctica ship", Audience.CUSTOMER)
    with asked_in("javascript:alert(1)"):  # never stored: only http(s) links
        answers.answer("sap erp integration", Audience.CUSTOMER)
    answers.answer("how do I void a label", Audience.CUSTOMER)
    with answer_ref("ans-refund"):
        answers.answer("void label refund", Audience.AGENT)
    state.feedback.record_feedback(answer_id="ans-refund", user="U9", helpful=False)

    app = web_factory(gap_similarity=0.6)  # the real model: paraphrases score ~0.8, unrelated questions ~0
    embedder = app.runtime.embedder
    calls: list[int] = []
    real_embed = embedder.embed

    def counting_embed(texts: Any) -> Any:  # the real model, counted
        calls.append(len(texts))
        return real_embed(texts)

    monkeypatch.setattr(embedder, "embed", counting_embed)
    app.login()
    page = app.http.get("/admin/gaps").text
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-reason="([a-z_]+)">(.*?)</tr>', page, re.S)}
    assert set(rows) == {"below_gate", "only_internal", "nothing_retrieved", "not_helpful"}, page
    first = page.split('<tr data-reason="')[1]
    assert first.startswith("below_gate") and "<strong>2</strong>" in first  # the biggest group first
    # One topic, two reasons: the two below-gate questions and the one only internal knowledge answers.
    assert "antarctica" in rows["below_gate"] and "1 similar" in rows["below_gate"]
    assert "1 more on this topic" in rows["below_gate"] and "2 more on this topic" in rows["only_internal"]
    assert 'href="https://help.example/shipping"' in rows["below_gate"] and "0.37" in rows["below_gate"]
    assert "Polar shipping runbook" in rows["only_internal"] and "internal" in rows["only_internal"]
    assert f'href="{thread}"' in rows["below_gate"] and "thread 1" in rows["below_gate"]
    assert 'href="https://acme.zendesk.com/agent/tickets/77"' in rows["only_internal"]
    assert "Nothing in the knowledge base matched" in rows["nothing_retrieved"]
    assert "javascript:" not in page
    assert "void label refund" in rows["not_helpful"] and "Void a label" in rows["not_helpful"]
    assert "how do I void a label" not in page  # answered and nobody complained: not a gap
    embedded = sum(calls)
    assert embedded == 5  # the five gap candidates, each embedded once
    app.http.get("/admin/gaps")
    assert sum(calls) == embedded  # vectors are cached per question


def test_gap_grouping_with_the_real_model(embedder) -> None:  # type: ignore[no-untyped-def]
    from bot.health.gaps import GapFinder
    from bot.state.questions import QuestionView

    texts = ["Do you ship to Antarctica?", "Can I send parcels to Antarctica?", "Is shipping to Antarctica supported?",
             "How do I integrate with SAP?", "Is there an SAP integration?", "What is your office dog's name?"]
    now = datetime.now(UTC)
    views = [QuestionView(id=i, created_at=now - timedelta(minutes=i), surface="slack", audience="customer", question=t,
                          answer="", confidence=0.1, abstained=True, composer="none", latency_ms=1, answer_id=None)
             for i, t in enumerate(texts)]
    gaps = GapFinder(lambda: embedder, threshold=0.6).gaps(views)
    assert [g.count for g in gaps] == [3, 2, 1]
    assert {q.question for q in gaps[1].questions} == {"How do I integrate with SAP?", "Is there an SAP integration?"}


def test_drafts_page_lists_drafts(web_factory: Callable[..., WebApp], state: StateStore) -> None:
    state.drafts.record_draft(provider="zendesk", ticket_id="4242", source_event="e1", note_id="n-1", confidence=0.77,
                       abstained=False)
    state.drafts.record_draft(provider="freshdesk", ticket_id="77", source_event="e2", note_id=None, confidence=0.1,
                       abstained=True)
    app = web_factory()
    app.login()
    page = app.http.get("/admin/drafts").text
    assert "4242" in page and "posted (n-1)" in page and "0.77" in page
    assert "77" in page and "not posted" in page and "no confident source" in page


def test_questions_log_retention(state: StateStore) -> None:
    answers = _answers(state, {"old": Answer(text="x", abstained=True), "new": Answer(text="y", abstained=True)})
    answers.answer("old", Audience.CUSTOMER)
    answers.answer("new", Audience.CUSTOMER)
    from sqlalchemy.orm import Session

    with Session(state.db.engine) as s, s.begin():
        s.execute(update(QuestionRecord).where(QuestionRecord.question == "old")
                  .values(created_at=datetime.now(UTC) - timedelta(days=31)))
    assert state.questions.forget_questions(older_than_s=30 * 86400) == 1
    assert [q.question for q in state.questions.recent_questions()] == ["new"]
