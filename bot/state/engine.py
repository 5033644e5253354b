"""The state database: one SQLAlchemy engine (SQLite by default, PostgreSQL by URL) under every repository.

Each repository module (:mod:`~bot.state.sync_ledger`, :mod:`~bot.state.events`,
:mod:`~bot.state.feedback`, :mod:`~bot.state.drafts`, :mod:`~bot.state.questions`) declares its
own tables on :class:`Base` and its own queries beside them; :class:`StateDatabase` owns the
engine they share and creates the schema on first use, so that opening it never connects: a
process starts (and ``/readyz`` reports the database) while the database is still coming up.

Schema changes are additive only: a column added to a table in a later version must be nullable,
and is added to an existing database (``ALTER TABLE ... ADD COLUMN``) when the schema is first
used, so a database written by an older version keeps its rows (their new fields read as None).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from bot.errors import StoreError


class Base(DeclarativeBase):
    """The declarative base of every state table."""


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


class StateDatabase:
    """The engine of the state database, with its schema created on first use.

    Args:
        url: a SQLAlchemy URL (``sqlite:///data/state.db``, ``postgresql+psycopg://...``).

    Raises:
        StoreError: the URL cannot be used.
    """

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and ":memory:" not in url:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._engine = create_engine(url, future=True)
        except SQLAlchemyError as exc:
            raise _error(exc) from exc
        self._ready = False
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The engine, once every table exists (created on the first call; later calls are free).

        Raises:
            StoreError: the database cannot be reached or its schema cannot be created.
        """
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self._create_schema()
                    self._ready = True
        return self._engine

    def _create_schema(self, attempts: int = 3) -> None:
        for attempt in range(attempts):
            try:
                Base.metadata.create_all(self._engine)
                self._add_missing_columns()
                return
            except SQLAlchemyError as exc:
                # Another process sharing the database created a table between our check and our
                # CREATE ("already exists", or PostgreSQL's unique violation on its type catalogue):
                # look again. Anything else (the database is down) is reported at once.
                raced = isinstance(exc, IntegrityError) or "already exists" in str(exc) or "duplicate column" in str(exc)
                if not raced or attempt == attempts - 1:
                    raise _error(exc) from exc

    def _add_missing_columns(self) -> None:
        """Add the nullable columns a newer version declares to the tables an older version created."""
        existing = inspect(self._engine)
        for table in Base.metadata.sorted_tables:
            present = {c["name"] for c in existing.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable:
                    raise StoreError(f"the state database's table {table.name} lacks the required column "
                                     f"{column.name}: it was written by an incompatible version")
                kind = column.type.compile(dialect=self._engine.dialect)
                with self._engine.begin() as conn:
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def insert(self, table: Table, **values: Any) -> Any:
        """An INSERT with this dialect's ``ON CONFLICT`` clauses (SQLite and PostgreSQL spell them alike)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table).values(**values)

    def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self._engine.dispose()


def _error(exc: BaseException) -> StoreError:
    return StoreError(f"cannot open the state database ({type(exc).__name__}): check HELPDESK_STATE_DB_URL")
