"""``helpdesk-bot`` command line: demo, sync, sources, resync, schedule, ask, serve, gaps, health, eval, draft,
simulate, finetune.

Errors a user can cause print one line (``error: ...``) and exit non-zero, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from bot.errors import HelpdeskBotError, InputError
from bot.logging import configure_logging, mask_url_credentials
from bot.models import Answer, AnswerReason, Audience
from bot.settings import Settings
from connectors.base import ConnectorError

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = structlog.get_logger(__name__)

EXIT_ERROR = 1
EXIT_USAGE = 2


@contextmanager
def progress(total: int | None, desc: str):  # type: ignore[no-untyped-def]
    """A tqdm bar on a terminal, nothing otherwise; yields an ``advance(n)`` callable."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="doc", leave=False, file=sys.stderr)
    try:
        yield bar.update
    finally:
        bar.close()


def _runtime(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.runtime import Runtime

    return Runtime(settings)


# --- sync ---------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Sync sources now. SIGTERM or Ctrl-C stops at the next document boundary (a second Ctrl-C at once);
    the exit is non-zero when a source failed, was interrupted, or is being synced by someone else."""
    from bot.sync.runner import SyncInterrupted

    with _runtime(settings) as rt:
        if args.rebuild:
            # Before the indexer opens the collections (it refuses vectors of another model).
            from bot.index.vector_space import drop_mismatched

            for name in drop_mismatched(rt.store, rt.collection_names, rt.embedder):
                print(f"{name}: built by another embedding model, dropped; every source syncs into it in full")
        service = rt.syncs
        names = [service.source(args.source).name] if args.source else list(service.sources)
        if not names:
            raise InputError("no sources configured: set HELPDESK_SOURCES_FILE, HELPDESK_FILES_DIR or HELPDESK_SAMPLE_KB=true")
        failed, busy = 0, 0
        with _stop_on_signals(service.interrupt):
            for name in names:
                try:
                    with progress(None, f"sync {name}") as advance:
                        report = service.run(name, full=args.full, on_progress=advance)
                except ConnectorError as exc:
                    failed += 1
                    print(f"{name}: failed: {mask_url_credentials(str(exc))}", file=sys.stderr)
                    continue
                except SyncInterrupted as exc:
                    print(f"{exc}", file=sys.stderr)
                    raise SyncFailed(f"interrupted: {name} and the sources after it were not finished; "
                                     "nothing was lost, rerun to resume") from None
                if report is None:
                    busy += 1
                    held = service.holder_of(name)
                    who = held.describe() if held is not None else "another process"
                    print(f"{name}: not run: a sync of this source is already running ({who})", file=sys.stderr)
                    continue
                s = report.stats
                print(f"{report.source}: {s.added} added, {s.updated} updated, {s.unchanged} unchanged, "
                      f"{s.deleted} deleted; {s.chunks_embedded} chunks embedded"
                      + (f"; {len(report.skipped)} records skipped" if report.skipped else "")
                      + (f"; PII masked: {s.pii}" if s.pii else "")
                      + (f"; credentials masked: {s.credentials}" if s.credentials else "")
                      + (f"; instructions to an assistant flagged in {s.flagged_chunks} chunks (never quoted)"
                         if s.flagged_chunks else "")
                      + (f"; not pruned: {report.prune_error}" if report.prune_error else ""))
                for reason in report.skipped:
                    print(f"  skipped: {reason}")
    if failed or busy:
        parts = [f"{failed} of {len(names)} sources failed (see above)" if failed else "",
                 f"{busy} of {len(names)} sources are being synced by another process" if busy else ""]
        raise SyncFailed("; ".join(p for p in parts if p) + "; nothing of theirs was lost, rerun to resume")
    return 0


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM (``docker stop``, Kubernetes) and a first Ctrl-C call ``stop``; a second Ctrl-C interrupts at once."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: Any) -> None:
        print(f"{signal.Signals(signum).name}: stopping at the next document boundary ...", file=sys.stderr, flush=True)
        stop()
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def cmd_sources(args: argparse.Namespace, settings: Settings) -> int:
    with _runtime(settings) as rt:
        rows = rt.syncs.status()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], default=str))
        return 0
    header = ("SOURCE", "TYPE", "SCHEDULE", "LAST RUN", "STATUS", "DOCS", "LAG", "LAST ERROR")
    table = [header] + [(
        r.name, r.type, r.schedule, r.last_run.strftime("%Y-%m-%d %H:%M") if r.last_run else "never",
        r.last_status or "-", str(r.docs), r.lag, (r.last_error or "")[:60],
    ) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_resync(args: argparse.Namespace, settings: Settings) -> int:
    """Ask a running scheduler (``helpdesk-bot schedule`` / ``serve``) to sync a source now."""
    from bot.state import StateStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in _runtime(settings).sources]  # reads config only, opens no store
    if args.source not in names:
        raise InputError(f"no source named {args.source!r} (configured: {', '.join(names) or 'none'})")
    # Only the state database is touched: the store may be held by the running scheduler.
    state = StateStore(settings.state_url)
    try:
        req = state.ledger.request_resync(args.source, full=args.full, requested_by="cli")
    finally:
        state.close()
    print(f"resync of {args.source!r} requested (#{req}); the scheduler picks it up within seconds")
    return 0


def cmd_schedule(args: argparse.Namespace, settings: Settings) -> int:
    """Run the scheduler of ``serve --role scheduler`` (sync and operations jobs) in the foreground, without HTTP."""
    from bot.serve import run_scheduler

    with _runtime(settings) as rt:
        return run_scheduler(rt, settings, run_now=args.run_now, seconds=args.seconds)


class SyncFailed(HelpdeskBotError):
    """At least one source failed to sync."""


# --- ask ----------------------------------------------------------------------------------
def render_answer(answer: Answer) -> str:
    lines = [answer.text, ""]
    if answer.citations:
        lines.append("Sources:")
        for c in answer.citations:
            where = f" ({c.url})" if c.url else ""
            section = f" › {c.section}" if c.section else ""
            lines.append(f"  [{c.n}] {c.title}{section}{where}  [{c.audience.value}]")
    if answer.abstained or answer.reason is not AnswerReason.ANSWERED:
        # Why it stayed silent (or fell back), and what came nearest: what a person checking the knowledge base needs.
        why = f"reason: {answer.reason.value}"
        if answer.closest is not None:
            c = answer.closest
            why += f"; closest: {c.title}{f' › {c.section}' if c.section else ''} ({c.score:.2f}, {c.audience.value})"
        lines.append(f"({why})")
    lines.append(f"(confidence {answer.confidence:.2f}, {answer.composer}, {answer.timings.get('total_ms', 0):.0f} ms)")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    question = " ".join(args.question)
    with _runtime(settings) as rt:
        answer = rt.answers.answer(question, Audience(args.audience))
    if args.json:
        print(answer.model_dump_json())
    else:
        print(render_answer(answer))
    return 0


# --- knowledge health ---------------------------------------------------------------------
def cmd_gaps(args: argparse.Namespace, settings: Settings) -> int:
    """Knowledge gaps from the questions log, grouped by topic and reason (reads no store: safe beside ``serve``)."""
    from bot.health.gaps import GapFinder, gaps_text
    from bot.index.embeddings import Embedder
    from bot.state import StateStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state = StateStore(settings.state_url)
    try:
        # Questions are grouped with the model they are answered with (the question precision).
        finder = GapFinder(lambda: Embedder(threads=settings.embed_threads, precision=settings.embed_query_precision),
                           threshold=settings.gap_similarity)
        gaps = finder.find(state.questions, days=args.days or settings.question_log_days)
    finally:
        state.close()
    if args.json:
        print(json.dumps([g.as_dict() for g in gaps[: args.limit]]))
    else:
        print(gaps_text(gaps, limit=args.limit))
    return 0


def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    """Contradictions between articles and recent replies, not-helpful and stale articles; saved for the admin page."""
    from bot.health.report import report_text

    with _runtime(settings) as rt:
        report = rt.health.report()
        if not args.no_save:
            rt.state.health.save_report(report.model_dump(mode="json"), trigger="cli")
    print(report.model_dump_json() if args.json else report_text(report, limit=args.limit))
    return 0


# --- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from connectors.files import sample_kb_path

    settings = settings.model_copy(update={"sample_kb": True})
    print("Syncing the bundled sample knowledge base into the embedded store ...")
    for source in ("sample-articles", "sample-tickets"):
        cmd_sync(argparse.Namespace(source=source, full=False, rebuild=False), settings)
    questions = [q.strip() for q in (sample_kb_path() / "questions.txt").read_text(encoding="utf-8").splitlines() if q.strip()]
    with _runtime(settings) as rt:
        for q in questions[: args.questions]:
            print("\n" + "=" * 78 + f"\nQ: {q}  (audience: customer)\n" + "-" * 78)
            print(render_answer(rt.answers.answer(q, Audience.CUSTOMER)))
    print(textwrap.dedent("""
        ------------------------------------------------------------------------------
        Ask your own question:
          .venv/bin/helpdesk-bot ask "How do I add a team member?"
          .venv/bin/helpdesk-bot ask --audience agent "What is the refund approval limit?"
        Index your own help center: HELPDESK_FILES_DIR=/path/to/folder .venv/bin/helpdesk-bot sync
        """))
    return 0


# --- eval ---------------------------------------------------------------------------------
@contextmanager
def _eval_runtime(args: argparse.Namespace, settings: Settings) -> Iterator[Runtime]:
    """A runtime over an index of the corpus alone (its own store and collection prefix), brought up to date."""
    from bot.evaluation.beir import index_corpus
    from bot.index.edge_store import EdgeStore
    from bot.runtime import Runtime

    index_dir = Path(args.index_dir) if args.index_dir else settings.data_dir / "eval" / Path(args.corpus).resolve().parent.name
    eval_settings = settings.model_copy(update={"collection_prefix": "eval"})
    with Runtime(eval_settings, store=EdgeStore(index_dir)) as rt:
        with progress(None, "index") as advance:
            stats = index_corpus(rt.indexer, Path(args.corpus), on_progress=advance)
        if stats.chunks_embedded or stats.updated or stats.deleted:
            log.info("eval_indexed", **stats.as_dict())
        yield rt


def _print_metrics(metrics: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    for k, v in metrics.items():
        if isinstance(v, dict):
            v = "  ".join(f"{kk}={vv}" for kk, vv in v.items())
        print(f"{k:>22}: {v}")


def cmd_eval_retrieval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluation.beir import read_jsonl, read_qrels
    from bot.evaluation.retrieval import evaluate

    queries = list(read_jsonl(Path(args.queries)))
    qrels = read_qrels(Path(args.qrels))
    with _eval_runtime(args, settings) as rt:
        with progress(len(queries), "queries") as advance:
            result = evaluate(rt.answers, queries, qrels, on_progress=advance)
    if args.per_query:
        Path(args.per_query).write_text("\n".join(json.dumps(r) for r in result.per_query) + "\n", encoding="utf-8")
    _print_metrics(result.metrics, args.json)
    return 0


def cmd_eval_answers(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluation.answers import evaluate_answers
    from bot.evaluation.beir import read_jsonl, read_qrels, read_reference_answers

    queries = list(read_jsonl(Path(args.queries)))
    qrels = read_qrels(Path(args.qrels))
    references = read_reference_answers(Path(args.answers) if args.answers else None)
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("", encoding="utf-8")  # fail now, not after answering every question
        except OSError as exc:
            raise InputError(f"cannot write {out}: {exc.strerror}") from exc
    with _eval_runtime(args, settings) as rt:
        with progress(len(queries), "questions") as advance:
            result = evaluate_answers(rt.answers, rt.embedder, queries, qrels, references,
                                      audience=Audience(args.audience), on_progress=advance)
    if out is not None:
        out.write_text("".join(json.dumps(r) + "\n" for r in result.rows), encoding="utf-8")
    _print_metrics(result.metrics, args.json)
    return 0


# --- serve --------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run a role: ``all`` (Slack, webhooks, admin page, metrics and the scheduler), ``web`` or ``scheduler``."""
    from bot.serve import serve

    if args.no_scheduler and args.role == "scheduler":
        raise InputError("--no-scheduler contradicts --role scheduler (use --role web for no scheduler)")
    with _runtime(settings) as rt:
        if args.role != "scheduler":
            rt.style.warm()  # a local style model loads now, not on the first answer (a no-op otherwise)
        return serve(rt, settings, mode=args.mode, scheduler=not args.no_scheduler, role=args.role)


# --- helpdesk drafts -----------------------------------------------------------------------
def cmd_draft(args: argparse.Namespace, settings: Settings) -> int:
    """Draft a reply for one helpdesk ticket by hand: post it as a private note, or print it (--dry-run)."""
    from bot.helpdesk.models import Provider, Status
    from bot.helpdesk.service import DraftService

    with _runtime(settings) as rt:
        service = DraftService.from_runtime(rt, settings=settings)
        try:
            outcome = service.draft_ticket(Provider(args.provider), args.ticket, dry_run=args.dry_run)
        finally:
            service.close()
    if outcome.status is Status.DRY_RUN and outcome.note is not None:
        print(outcome.note.text)
    elif outcome.status is Status.POSTED:
        what = "abstention note" if outcome.draft and outcome.draft.abstained else "draft note"
        confidence = outcome.draft.confidence if outcome.draft else 0.0
        print(f"{args.provider} ticket {outcome.ticket_id}: {what} posted (note {outcome.note_id or '?'}, "
              f"confidence {confidence:.2f})")
    else:
        print(f"{args.provider} ticket {outcome.ticket_id}: {outcome.status.value}: {outcome.reason}")
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """Draft quality over past conversations (benchmarks/draft_quality.py): one JSON line."""
    from bot.helpdesk.simulate import run_simulation

    def note(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_simulation(settings, conversations=Path(args.conversations), limit=args.limit, seed=args.seed,
                            kb_limit=args.kb_limit, check_reasons=args.check_reasons, progress=note)
    print(json.dumps(result))
    return 0


def _add_helpdesk_parsers(sub: Any) -> None:
    from bot.helpdesk.simulate import DEFAULT_CONVERSATIONS, DEFAULT_LIMIT, DEFAULT_SEED

    p = sub.add_parser("draft", help="draft a cited reply for a helpdesk ticket as a private note")
    p.add_argument("--provider", required=True, choices=["zendesk", "freshdesk", "intercom"])
    p.add_argument("--ticket", required=True, help="ticket (Intercom: conversation) id")
    p.add_argument("--dry-run", action="store_true", help="print the note instead of posting it")
    p.set_defaults(func=cmd_draft)

    p = sub.add_parser("simulate", help="measure draft quality over past conversations (leave-one-out)")
    p.add_argument("--conversations", default=str(DEFAULT_CONVERSATIONS), help="conversations JSONL")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="conversations drafted (a seeded sample)")
    p.add_argument("--kb-limit", type=int, default=None, help="documents in the knowledge base (default: all)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--check-reasons", action="store_true",
                   help="check each abstention's recorded reason by asking again without its obstacle")
    p.set_defaults(func=cmd_simulate)


# --- entry point --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helpdesk-bot", description="Grounded, cited answers for support teams.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="sync the sample knowledge base and answer sample questions")
    p.add_argument("--questions", type=int, default=4, help="how many sample questions to answer")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sync", help="sync configured sources into the store")
    p.add_argument("--source", help="only this source")
    p.add_argument("--full", action="store_true", help="ignore checkpoints and re-read everything")
    p.add_argument("--rebuild", action="store_true",
                   help="drop collections built by another embedding model (HELPDESK_EMBEDDINGS_*) first")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("sources", help="list sources: schedule, last run, documents, lag, last error")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sources)

    p = sub.add_parser("resync", help="ask the running scheduler to sync a source now")
    p.add_argument("source")
    p.add_argument("--full", action="store_true")
    p.set_defaults(func=cmd_resync)

    p = sub.add_parser("schedule", help="run the scheduler (sync and operations jobs) in the foreground, without HTTP "
                                        "(serve --role scheduler adds /healthz, /readyz, /metrics)")
    p.add_argument("--run-now", action="store_true", help="sync every source once at start")
    p.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0 = run until stopped)")
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question", nargs="+")
    p.add_argument("--audience", choices=[a.value for a in Audience], default=Audience.CUSTOMER.value)
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("serve", help="run the Slack bot, webhooks, admin page and metrics, and/or the sync scheduler")
    p.add_argument("--mode", choices=["socket", "http"], help="override HELPDESK_SLACK_MODE")
    p.add_argument("--role", choices=["all", "web", "scheduler"], default="all",
                   help="all: everything in one process (default); web: no scheduler (scale out); "
                        "scheduler: the sync scheduler with /healthz, /readyz, /metrics only")
    p.add_argument("--no-scheduler", action="store_true", help="same as --role web (another process runs the scheduler)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("gaps", help="knowledge gaps: unanswered and 'not helpful' questions by topic and reason")
    p.add_argument("--days", type=int, default=0, help="look back this many days (default: HELPDESK_QUESTION_LOG_DAYS)")
    p.add_argument("--limit", type=int, default=20, help="groups shown")
    p.add_argument("--json", action="store_true", help="print the groups as JSON")
    p.set_defaults(func=cmd_gaps)

    p = sub.add_parser("health", help="articles that recent replies contradict, not-helpful and stale articles")
    p.add_argument("--limit", type=int, default=20, help="findings shown per kind")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-save", action="store_true", help="do not store the report for the admin page")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("eval", help="evaluate retrieval quality and answer text")
    esub = p.add_subparsers(dest="what", required=True)
    r = esub.add_parser("retrieval", help="index a BEIR corpus and score the retriever on its queries")
    r.add_argument("--corpus", required=True)
    r.add_argument("--queries", required=True)
    r.add_argument("--qrels", required=True)
    r.add_argument("--index-dir", help="where to keep the index between runs (default: under the data dir)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.add_argument("--per-query", help="write per-query rankings (JSONL) to this file")
    r.set_defaults(func=cmd_eval_retrieval)
    a = esub.add_parser("answers", help="index a BEIR corpus, answer every question with answer() and score the text")
    a.add_argument("--corpus", required=True)
    a.add_argument("--queries", required=True)
    a.add_argument("--qrels", required=True, help="questions without a qrels row are unanswerable: declining is right")
    a.add_argument("--answers", help="reference answers (JSONL: _id, reference_answer); without them nothing is scored")
    a.add_argument("--index-dir", help="where to keep the index between runs (default: under the data dir)")
    a.add_argument("--audience", choices=[x.value for x in Audience], default=Audience.CUSTOMER.value)
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--out", help="write one JSON line per question (_id, answer, abstained, citations)")
    a.set_defaults(func=cmd_eval_answers)
    from bot.finetune.cli import add_parser as add_finetune_parser

    add_finetune_parser(sub)  # finetune export | train | openai (style adapter)
    _add_helpdesk_parsers(sub)  # draft, simulate
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    for n, argument in enumerate(arguments, start=1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 arrive as lone surrogates (surrogateescape)
            print(f"error: argument {n} is not valid UTF-8 text: check the terminal's or the script's encoding",
                  file=sys.stderr)
            return EXIT_USAGE
    args = parser.parse_args(arguments)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: show the first problem on one line
        print(f"error: invalid settings: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, settings.log_format)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, settings)
    except (HelpdeskBotError, ConnectorError) as exc:
        # A message may quote a URL from the settings (QDRANT_URL, a state database URL): never its password.
        print(f"error: {mask_url_credentials(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _first_line(exc: Exception) -> str:
    errors: Any = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(x) for x in first.get("loc", ()))
        return f"{loc}: {first.get('msg')}"
    return str(exc).splitlines()[0]


if __name__ == "__main__":
    raise SystemExit(main())
