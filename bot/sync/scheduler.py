"""APScheduler jobs of the sync side: each source on its interval or cron, a weekly prune, resync-request polling.

Every job runs with ``max_instances=1`` and ``coalesce=True`` (a backlog of missed runs collapses
into one) and a misfire grace period; the service's lease keeps a manual "resync now" from
overlapping a scheduled run of the same source, in this process or another.
"""

from __future__ import annotations

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.sync.service import SyncService
from bot.sync.sources import DEFAULT_EVERY_MINUTES

MISFIRE_GRACE_S = 15 * 60
RESYNC_POLL_S = 10
#: Options of every job (see the module docstring).
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S, "replace_existing": True}
#: Sunday 03:00 UTC.
WEEKLY_PRUNE_CRON = "0 3 * * 0"


def add_sync_jobs(scheduler: BaseScheduler, service: SyncService, *, resync_poll_s: float = RESYNC_POLL_S) -> None:
    """Add the sync jobs of ``service``'s sources to ``scheduler`` (ids ``sync:<name>``, ``prune``, ``resync-requests``)."""
    common = JOB_DEFAULTS
    for name, src in service.sources.items():
        if src.schedule.cron:
            trigger = CronTrigger.from_crontab(src.schedule.cron, timezone="UTC")
        else:
            trigger = IntervalTrigger(minutes=src.schedule.every_minutes or DEFAULT_EVERY_MINUTES)
        scheduler.add_job(service.run_scheduled, trigger, args=[name], id=f"sync:{name}", name=f"sync {name}", **common)
    scheduler.add_job(service.prune_all, CronTrigger.from_crontab(WEEKLY_PRUNE_CRON, timezone="UTC"), id="prune",
                      name="weekly prune", **common)
    scheduler.add_job(service.process_resync_requests, IntervalTrigger(seconds=resync_poll_s), id="resync-requests",
                      name="resync requests", **common)

