"""The sample-KB question sets (``benchmarks/sample_kb_questions/``) name sections that exist.

They are scored by ``benchmarks/sample_kb_answers.py`` and three of them train the window ranker
(``benchmarks/train_answer_models.py``), which skips a row whose article or section it cannot
find: a renamed heading would silently drop training data, or make a question unanswerable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.evaluation.sample_questions import article_sections, question_rows, thread_rows

SETS = Path(__file__).resolve().parents[2] / "benchmarks" / "sample_kb_questions"
THREADS = SETS.parent / "sample_kb_threads"
#: The sets no model is trained on (see train_answer_models.HELP_CENTER_SETS).
HELD_OUT = ("held_out_stop28", "held_out_stop29", "agent_stop29", "held_out_stop30", "agent_stop30")


@pytest.mark.parametrize("path", sorted(SETS.glob("*.tsv")), ids=lambda p: p.stem)
def test_every_question_names_an_article_and_section_of_the_sample_kb(path: Path) -> None:
    sections = article_sections()
    rows = question_rows(path)
    assert rows
    for question, title, section in rows:
        assert question.strip(), f"{path.name}: a row without a question"
        assert title in sections, f"{path.name}: no article titled {title!r} ({question})"
        assert not section or section in sections[title], f"{path.name}: {title!r} has no section {section!r}"


@pytest.mark.parametrize("held_out_set", HELD_OUT)
def test_a_held_out_set_shares_no_question_with_the_training_sets(held_out_set: str) -> None:
    held_out = {q.casefold() for q, _, _ in question_rows(SETS / f"{held_out_set}.tsv")}
    trained = {q.casefold() for p in SETS.glob("*.tsv") if p.stem not in HELD_OUT for q, _, _ in question_rows(p)}
    assert held_out and not held_out & trained


@pytest.mark.parametrize("path", sorted(THREADS.glob("*.tsv")), ids=lambda p: p.stem)
def test_every_thread_has_an_earlier_turn_and_names_a_section_of_the_sample_kb(path: Path) -> None:
    sections = article_sections()
    rows = thread_rows(path)
    assert rows
    for history, question, title, section in rows:
        assert all(turn.strip() for turn in history) and question.strip(), f"{path.name}: an empty turn"
        assert title in sections, f"{path.name}: no article titled {title!r} ({question})"
        assert not section or section in sections[title], f"{path.name}: {title!r} has no section {section!r}"
