"""Helpdesk drafts record why the answer came out so, and the questions log links to the ticket."""

from __future__ import annotations

from bot.web.metrics import MeteredAnswerService, Metrics
from tests.fakes.zendesk_server import comment
from tests.support.helpdesk import CUSTOMER, Harness, zendesk_event, zendesk_headers


def _logged(harness: Harness) -> None:
    """The answer service as ``serve`` hands it to the helpdesk surface: counted and written to the log."""
    real = harness.service.answers
    harness.service.answers = MeteredAnswerService(lambda: real, metrics=Metrics(process=False),  # type: ignore[assignment]
                                                   surface="helpdesk", questions=harness.state.questions)


def test_a_draft_and_an_abstention_are_logged_with_reasons_and_ticket_links(harness: Harness) -> None:
    _logged(harness)
    body = zendesk_event(7)
    harness.post("zendesk", body, zendesk_headers(body))
    harness.zd.add_ticket(8, "Pets", status="new", requester_id=CUSTOMER,
                          comments=[comment("What does the office dog eat on Mars?", author_id=CUSTOMER)])
    body = zendesk_event(8, event_id="01HNXXXX-SECOND")
    harness.post("zendesk", body, zendesk_headers(body))

    [drafted] = harness.state.drafts.drafts_for("zendesk", "7")
    [silent] = harness.state.drafts.drafts_for("zendesk", "8")
    assert (drafted.abstained, drafted.reason) == (False, "answered")
    assert (silent.abstained, silent.reason) == (True, "below_gate")
    off, password = harness.state.questions.recent_questions()
    assert password.surface == "helpdesk" and password.link == f"{harness.zd.url}/agent/tickets/7"
    assert password.reason == "answered" and password.closest and password.closest["title"] == "Reset your password"
    assert off.link == f"{harness.zd.url}/agent/tickets/8" and off.reason == "below_gate" and off.closest
    assert [d.reason for d in harness.state.drafts.recent_drafts()] == ["below_gate", "answered"]


def test_a_quoted_table_reaches_the_note_as_an_html_table_with_its_content_escaped() -> None:
    from bot.helpdesk.models import Draft, Provider, Ticket
    from bot.helpdesk.render import render_note
    from bot.models import Answer, Citation, Visibility

    text = ("Plans compared:\n| Plan | Price |\n|---|---|\n| Starter | $19 |\n| **Growth** | $49 <img src=x onerror=alert(1)> | [1]\n"
            "Prices exclude tax. [1]")
    citation = Citation(n=1, doc_id="d1", title="Plans and pricing", url="https://help.acme.test/plans", source="kb",
                        audience=Visibility.PUBLIC)

    def note_for(provider: str):  # type: ignore[no-untyped-def]
        ticket = Ticket(provider=Provider(provider), id="7", subject="Prices", message="How much is Growth?",
                        message_id="m1", customer_waiting=True)
        return render_note(Draft(ticket=ticket, answer=Answer(text=text, citations=[citation], confidence=0.9), text=text),
                           tag="helpdesk_bot_draft", min_confidence=0.5)

    note = note_for("zendesk")
    assert ("Plans compared:<table><thead><tr><th>Plan</th><th>Price</th></tr></thead><tbody>"
            "<tr><td>Starter</td><td>$19</td></tr>"
            "<tr><td><strong>Growth</strong></td><td>$49 &lt;img src=x onerror=alert(1)&gt; [1]</td></tr>"
            "</tbody></table>Prices exclude tax. [1]") in note.html
    assert "<img" not in note.html
    assert "| Plan | Price |" in note.text  # the plain-text note (the CLI's dry run) quotes it as it is
    # Intercom flattens a table in a note into one run of cell text: it gets a list instead.
    note = note_for("intercom")
    assert ("Plans compared:<ul><li><strong>Starter</strong> — Price: $19</li>"
            "<li><strong>Growth</strong> — Price: $49 &lt;img src=x onerror=alert(1)&gt; [1]</li></ul>"
            "Prices exclude tax. [1]") in note.html
    assert "<table" not in note.html and "<img" not in note.html
