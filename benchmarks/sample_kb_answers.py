"""Sample-KB answers: does the right article and section lead, question by question?

The bundled sample knowledge base (``bot/sample_kb``) is what a new user asks first. Three question
sets, one question per line as ``question<TAB>article title<TAB>section heading`` (an empty
section: any section of that article), customer audience:

* ``sample_kb_questions/written_first.tsv`` (60): written in stop 23, one per section a customer
  would plausibly ask about, before any change they measured; later changes were judged on it,
  so it is no longer unseen.
* ``sample_kb_questions/held_out.tsv`` (24): written in stop 24 after that stop's changes, phrased
  differently, and run once on the code before and after them.
* ``sample_kb_questions/held_out_stop25.tsv`` (22): written in stop 25 before either code was run
  on it (ten ask for a number), and run once on the code before and after that stop's change.
* ``sample_kb_questions/held_out_stop28.tsv`` (22): written in stop 28 before any code was run on
  it. Since stop 28 the three sets above also train the window ranker
  (``benchmarks/train_answer_models.py``), so this one was the only set no model had seen: keep it
  out of training.
* ``sample_kb_questions/held_out_stop29.tsv`` (24): written in stop 29 before any code was run on
  it, one per section none of the other sets asks about. Kept out of training too.
* ``sample_kb_questions/agent_stop29.tsv`` (20): agents' questions about the internal articles, as
  agents write them ("Customer wants a $150 refund on their subscription, am I allowed to approve
  that?"), asked with the agent audience (tickets compete); written in stop 29 before any code ran
  on it. Kept out of training.
* ``sample_kb_questions/held_out_stop30.tsv`` (20) and ``agent_stop30.tsv`` (13): written in stop 30
  before any code ran on them, Slack-style ("can I pay by bank transfer?", "UPS is down, how do I
  handle incoming tickets?"). Kept out of training.

Thread sets (``sample_kb_threads/*.tsv``, asked as ``threads/<name>``): a follow-up asked in a
thread after an earlier question, ``earlier turn<TAB>follow-up<TAB>article title<TAB>section``; the
follow-up's answer must come from the section it asks about, not the earlier question's.

* ``sample_kb_threads/held_out_stop30.tsv`` (16) and ``agent_stop30.tsv`` (3): written in stop 30
  before any code ran on them (after the follow-up reading of that stop was built on ten other
  threads).

A question counts as right when the answer's first citation is that article (and section). Sets
are asked as a customer, ``agent_*`` sets as an agent. The sample KB is synced into ``--data-dir``
on the first run (kept for the next).

Usage::

    python benchmarks/sample_kb_answers.py [--set held_out] [--show-wrong]

Prints one JSON line: right / total per set, and the wrong ones (what led instead).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import PROJECT_ROOT, emit, note, sample_kb_runtime, setup_logging

from bot.evaluation.sample_questions import question_rows, thread_rows
from bot.models import Audience

SETS = PROJECT_ROOT / "benchmarks" / "sample_kb_questions"
THREADS = PROJECT_ROOT / "benchmarks" / "sample_kb_threads"


def all_sets() -> dict[str, tuple[Path, list[tuple[tuple[str, ...], str, str, str]]]]:
    """Every set by name: the question sets, and the thread sets as ``threads/<name>``; each row
    ``(earlier turns, question, article title, section)``."""
    sets = {p.stem: (p, [((), q, t, s) for q, t, s in question_rows(p)]) for p in sorted(SETS.glob("*.tsv"))}
    sets.update({f"threads/{p.stem}": (p, thread_rows(p)) for p in sorted(THREADS.glob("*.tsv"))})
    return sets


def audience_of(path: Path) -> Audience:
    """An ``agent_*`` set is asked as an agent (internal articles and tickets too), the rest as a customer."""
    return Audience.AGENT if path.stem.startswith("agent_") else Audience.CUSTOMER


def main() -> None:
    sets = all_sets()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", choices=list(sets), help="question set(s) to ask (default: all)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/bench-sample-kb"))
    parser.add_argument("--show-wrong", action="store_true", help="print the wrong answers' text on stderr")
    args = parser.parse_args()
    setup_logging()
    result: dict[str, object] = {}
    with sample_kb_runtime(args.data_dir) as rt:
        for name, (path, rows) in sets.items():
            if args.set and name not in args.set:
                continue
            right, wrong = 0, []
            for history, question, title, section in rows:
                answer = rt.answers.answer(question, audience_of(path), list(history))
                lead = answer.citations[0] if answer.citations else None
                if lead is not None and lead.title == title and (not section or lead.section == section):
                    right += 1
                    continue
                got = f"{lead.title} / {lead.section}" if lead is not None else "(declined)"
                asked = " > ".join((*history, question))
                wrong.append({"question": asked, "want": f"{title} / {section}", "got": got})
                if args.show_wrong:
                    note(f"WRONG {asked}\n    want {title} / {section}\n    got  {got}\n    " +
                         answer.text[:600].replace("\n", "\n    "))
            result[name] = {"right": right, "total": len(rows), "wrong": wrong}
            note(f"{name}: {right}/{len(rows)}")
    emit(result)


if __name__ == "__main__":
    main()
