"""APScheduler jobs: each source on its interval or cron, a weekly prune, resync-request polling.

Every job runs with ``max_instances=1`` and ``coalesce=True`` (a backlog of missed runs collapses
into one) and a misfire grace period; the service's lease keeps a manual "resync now" from
overlapping a scheduled run of the same source, in this process or another.
"""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.sync.service import SyncService
from bot.sync.sources import DEFAULT_EVERY_MINUTES

MISFIRE_GRACE_S = 15 * 60
RESYNC_POLL_S = 10
#: Event de-duplication keys are kept a week: far beyond any sender's redelivery window.
EVENT_KEYS_KEEP_S = 7 * 24 * 3600
#: Sunday 03:00 UTC.
WEEKLY_PRUNE_CRON = "0 3 * * 0"


def add_sync_jobs(scheduler: BaseScheduler, service: SyncService, *, resync_poll_s: float = RESYNC_POLL_S) -> None:
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": MISFIRE_GRACE_S, "replace_existing": True}
    for name, src in service.sources.items():
        if src.schedule.cron:
            trigger = CronTrigger.from_crontab(src.schedule.cron, timezone="UTC")
        else:
            trigger = IntervalTrigger(minutes=src.schedule.every_minutes or DEFAULT_EVERY_MINUTES)
        scheduler.add_job(service.run_scheduled, trigger, args=[name], id=f"sync:{name}", name=f"sync {name}", **common)
    scheduler.add_job(service.prune_all, CronTrigger.from_crontab(WEEKLY_PRUNE_CRON, timezone="UTC"), id="prune",
                      name="weekly prune", **common)
    scheduler.add_job(service.runtime.state.forget_events, IntervalTrigger(hours=6), kwargs={"older_than_s": EVENT_KEYS_KEEP_S},
                      id="forget-events", name="forget old event keys", **common)
    scheduler.add_job(service.process_resync_requests, IntervalTrigger(seconds=resync_poll_s), id="resync-requests",
                      name="resync requests", **common)


def build_background_scheduler(service: SyncService, **kwargs: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    add_sync_jobs(scheduler, service, **kwargs)
    return scheduler
