"""The state store: everything a running helpdesk-bot must remember besides the index.

Small repositories over one engine (SQLite by default, PostgreSQL by URL), each with its tables
and its queries in one module:

==================  ========================================================================
``sync_ledger``     checkpoints, run history, sync leases, resync requests (:class:`SyncLedger`)
``events``          processed-event keys: a redelivered Slack event or webhook is handled once,
                    also across processes sharing the database (:class:`EventClaims`)
``feedback``        "helpful / not helpful" votes on answers (:class:`FeedbackLog`)
``drafts``          the drafts posted into helpdesk tickets (:class:`DraftLog`)
``questions``       the questions log the admin page shows, kept ``HELPDESK_QUESTION_LOG_DAYS``,
                    each with why it was answered so and where it was asked (:class:`QuestionLog`)
``health``          the knowledge-health finder's latest reports (:class:`HealthReports`)
``engine``          the engine they share (:class:`StateDatabase`)
==================  ========================================================================

Each part of the program is handed the repositories it uses, never the whole store.
"""

from __future__ import annotations

from bot.state.drafts import DraftLog
from bot.state.engine import StateDatabase
from bot.state.events import EventClaims
from bot.state.feedback import FeedbackLog
from bot.state.health import HealthReports
from bot.state.questions import QuestionLog
from bot.state.sync_ledger import SyncLedger

__all__ = ["DraftLog", "EventClaims", "FeedbackLog", "HealthReports", "QuestionLog", "StateDatabase", "StateStore",
           "SyncLedger"]


class StateStore:
    """The state database and its repositories (what :class:`bot.runtime.Runtime` holds).

    Args:
        url: a SQLAlchemy URL; nothing connects until a repository is first used.
    """

    def __init__(self, url: str) -> None:
        self.db = StateDatabase(url)
        self.ledger = SyncLedger(self.db)
        self.events = EventClaims(self.db)
        self.feedback = FeedbackLog(self.db)
        self.drafts = DraftLog(self.db)
        self.questions = QuestionLog(self.db)
        self.health = HealthReports(self.db)

    def close(self) -> None:
        self.db.close()
