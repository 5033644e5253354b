"""Leases that heal: who holds a source's sync, a heartbeat while it runs, and telling a dead holder.

A sync holds its source's lease (:class:`bot.state.sync_ledger.SyncLedger`) for as long as it
runs: :class:`Heartbeat` renews it every third of the TTL (``HELPDESK_SYNC_LEASE_TTL_S``, 90 s by
default). When the holder dies (``kill -9``, an OOM kill, a lost node) the heartbeat stops and the
lease is free again one TTL later at the latest; on the same host it is free at once, because
:func:`holder_gone` sees that the holding process no longer exists (or that its pid now belongs
to a younger process).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable

import structlog

from bot.state.sync_ledger import LeaseHolder, LeaseView

log = structlog.get_logger(__name__)


def process_start(pid: int) -> str:
    """When process ``pid`` started, as the kernel counts it (clock ticks since boot); "" where unknown.

    With the pid it identifies a process for good: a pid reused after a restart (a container's
    pid 1) has a different start.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else ""


def this_holder() -> LeaseHolder:
    """A holder for one sync run of this process: a fresh token, this host, this pid and its start."""
    pid = os.getpid()
    return LeaseHolder(token=f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:12]}", host=socket.gethostname(),
                       pid=pid, process_started=process_start(pid))


def holder_gone(lease: LeaseView) -> bool:
    """True when ``lease``'s holder ran on this host and its process is gone (or its pid was reused).

    A holder on another host, or one that named no process, is never presumed gone: its lease
    expires when its heartbeat stops.
    """
    holder = lease.holder
    if not holder.pid or holder.host != socket.gethostname():
        return False
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        pass
    started = process_start(holder.pid)
    return bool(holder.process_started and started and started != holder.process_started)


class Heartbeat:
    """Renews a lease every ``ttl_s / 3`` in a daemon thread until stopped; calls ``on_lost`` if it was taken.

    Args:
        renew: renews the lease; False when it is no longer ours.
        ttl_s: the lease's time to live.
        on_lost: called once, from the heartbeat thread, when a renewal finds the lease gone.
    """

    def __init__(self, renew: Callable[[], bool], *, ttl_s: float, on_lost: Callable[[], None]) -> None:
        self._renew = renew
        self.interval_s = max(ttl_s / 3.0, 0.05)
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sync-lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                ours = self._renew()
            except Exception as exc:  # noqa: BLE001 - the database blinked: try again next beat
                log.warning("sync_lease_renew_failed", error=type(exc).__name__)
                continue
            if not ours:
                self._on_lost()
                return
