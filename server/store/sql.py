"""The store: the database is the truth; every change and its event commit together."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, text, update
from sqlalchemy import event as sa_event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from server.core.digest import Digest
from server.core.errors import AlreadyDecided, CannotRetract, NotFound, Unavailable
from server.core.gate import event_payload
from server.core.model import (
    AUTO,
    MAIN,
    MAX_ID,
    REASON_EXPIRED,
    Barrage,
    Draft,
    Event,
    EventKind,
    Mode,
    Mute,
    Room,
    Size,
    Source,
    Status,
    rejected_by,
)
from server.core.rules import Rule, RuleSpec
from server.logs import limit_repeats
from server.store import digest, merge, schema
from server.store.tables import BarrageRow, CardRow, EventRow, FilterRuleRow, MuteRow, RoomRow, SettingRow
from server.store.writer import Awaited, OnThread, Transactions

logger = limit_repeats(logging.getLogger(__name__))

BARRAGE = BarrageRow.__table__
EVENT = EventRow.__table__
SETTING = SettingRow.__table__
CARD = CardRow.__table__
ROOM = RoomRow.__table__
MUTE = MuteRow.__table__
RULE = FilterRuleRow.__table__
SEEDED_KEY = "filter.seeded"  # set with the seed's rules: a database is seeded once, by one process
EVENT_COLUMNS = ("kind", "barrage_id", "created_at", "payload", "room")


UPSERT = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
# Built once, their values bound at execution: a statement built per submission with its
# values in it cost more than running it (a bound parameter and a cache key per value).
INSERT = {table.name: insert(table) for table in (BARRAGE, EVENT)}
INSERT_RETURNING_ID = {table.name: insert(table).returning(table.c.id) for table in (BARRAGE, EVENT)}


SYNCHRONOUS = ("normal", "full")
# SQLite primary result codes (the low byte of an extended code) that mean "cannot
# write here now": the disk or file, not the statement, is at fault.
SQLITE_UNAVAILABLE = {
    8: "read-only", 10: "disk I/O error", 13: "disk full", 14: "cannot open the database file",
}
# PostgreSQL SQLSTATE classes and codes with the same meaning: 53 insufficient resources
# (53100 disk_full), 08 connection exception, 57P0x shutting down, 25006 read-only transaction.
PG_UNAVAILABLE = ("53", "08", "57P0", "25006")
HEALTH_PROBE_SECONDS = 10.0     # while writable: how old a "writable" answer may be
HEALTH_RETRY_SECONDS = 1.0      # while not: how often /healthz tries again
PROBE_KEY = "health.probe"
# The normalised text kept for ×N merging, cut: a btree entry on PostgreSQL holds at most
# 2,704 bytes, and 512 characters take at most 2,048 (a 1,000-character text of Hangul jamo,
# moderation.max_text_length's top, would fail its whole group commit). Two texts alike in
# their first 512 normalised characters merge; rules screen the whole text before this.
STORED_NORM = 512
UNDECIDED = {"status": Status.PENDING.value, "decided_at": None, "decided_by": None, "notified": False,
             "reason": None}  # "rejected by …" no longer holds
# pg_advisory_xact_lock's key for "appending to the event log" (any constant: it only has
# to be the same in every process; "barr" in ASCII).
EVENT_LOG_LOCK = 0x62617272
LOCK_EVENT_LOG = text("SELECT pg_advisory_xact_lock(:key)")
# Rows numbered max(id) + 1, … in the order given (the max is read once, by this statement's
# snapshot, taken after the lock was granted); the ids come back to be sorted into that order.
APPEND_NUMBERED = text(
    "INSERT INTO event (id, kind, barrage_id, created_at, payload, room) "
    "SELECT (SELECT coalesce(max(id), 0) FROM event) + n, kind, barrage_id, created_at, payload, room "
    "FROM unnest(CAST(:kind AS varchar[]), CAST(:barrage_id AS integer[]), "
    "CAST(:created_at AS timestamptz[]), CAST(:payload AS text[]), CAST(:room AS varchar[])) "
    "WITH ORDINALITY AS appended(kind, barrage_id, created_at, payload, room, n) RETURNING id"
)


# Expiry passes (SqlStore.expire) run on every process; on PostgreSQL a pass that finds this
# lock taken leaves the work to the process holding it ("expi" in ASCII).
EXPIRY_LOCK = 0x65787069
TRY_LOCK_EXPIRY = text("SELECT pg_try_advisory_xact_lock(:key)")


# A node that stops inside a transaction (a VM paused, a process swapped out or SIGSTOPped)
# would keep its locks, the event log's among them, and every node's writes would wait for
# it: PostgreSQL ends a session idle this long inside a transaction (its request fails
# with 503; nothing of it commits). Ours never idle there: their statements run back to back.
IDLE_IN_TRANSACTION_MS = 5000
# asyncpg waits 60 s for a new connection by default: a database host that drops packets
# would hold every request that long. A connection on a working network takes milliseconds.
CONNECT_TIMEOUT_SECONDS = 5.0


def create_engine(url: str, synchronous: str = "normal") -> AsyncEngine:
    if not url.startswith("sqlite"):
        settings = {"idle_in_transaction_session_timeout": str(IDLE_IN_TRANSACTION_MS)}
        return create_async_engine(url, pool_pre_ping=True, connect_args={
            "server_settings": settings, "timeout": CONNECT_TIMEOUT_SECONDS})
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}")
    engine = create_async_engine(
        url,
        connect_args={"timeout": 30},
        # Every write here goes through engine.begin(), which commits or rolls back,
        # and SQLite opens no transaction for reads: the pool's extra ROLLBACK on
        # return is a wasted round trip to aiosqlite's thread on every query.
        pool_reset_on_return=None,
        **({"poolclass": StaticPool} if _in_memory(url) else {}),
    )
    sa_event.listen(engine.sync_engine, "connect", _sqlite_pragmas(synchronous))
    _SYNCHRONOUS[engine.sync_engine] = synchronous
    return engine


# Each SQLite engine's `synchronous`, as create_engine was given it: the writer's own
# connection (server/store/writer.py) takes the same.
_SYNCHRONOUS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _in_memory(url: str | URL) -> bool:
    return schema.database_file(url) is None  # on a SQLite URL: no file behind it


def _transactions(engine: AsyncEngine) -> Transactions:
    """SQLite on a file: the submissions' transactions on a thread of their own (server/store/writer.py)."""
    if engine.dialect.name != "sqlite" or _in_memory(engine.url):
        return Awaited(engine)
    return OnThread(engine.url, _sqlite_pragmas(_SYNCHRONOUS.get(engine.sync_engine, SYNCHRONOUS[0])))


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the stream's replay reads run while a submission writes. With WAL,
        # synchronous=NORMAL syncs at checkpoints only: a power cut may lose the last
        # commits (never consistency); FULL syncs every commit (see the README).
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return on_connect


def unavailable_reason(error: BaseException | None) -> str | None:
    """Why the database cannot take writes, when `error` says so; None for any other error."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(error, sqlite3.Error) and code is not None:
        return SQLITE_UNAVAILABLE.get(code & 0xFF)
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(state, str) and state.startswith(PG_UNAVAILABLE):
        return f"PostgreSQL {state}"
    if isinstance(error, OSError):  # the database server cannot be reached
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


class SqlStore:
    def __init__(self, engine: AsyncEngine, merge_seconds: float = 10.0) -> None:
        self._engine = engine
        # Submissions' transactions (add, add_many): on SQLite, each whole on the writer's thread.
        self._transactions = _transactions(engine)
        # screen.merge_seconds: an approved repeat of a text approved this recently is ×N
        self._merge_window = timedelta(seconds=merge_seconds)
        self._writable = True
        self._probe_due = 0.0
        # Every statement's failure passes here: "disk full" and its kin become the core's
        # Unavailable (503 at the HTTP edge) with one rate-limited line, not a traceback each.
        # A server that refuses or ignores new connections (stopped, restarting, unreachable)
        # fails in the driver's connect, which handle_error never sees: the socket's OSError
        # would reach the caller as is (a 500 at the HTTP edge).
        for sync_engine in self.sync_engines:
            sa_event.listen(sync_engine, "handle_error", self._on_error)
            sa_event.listen(sync_engine, "do_connect", self._connect)

    @property
    def sync_engines(self) -> tuple[Engine, ...]:
        """Every engine the store's statements run on (for event listeners): the async engine's
        own, and on SQLite the writer's."""
        return (self._engine.sync_engine, *self._transactions.engines)

    @classmethod
    def from_url(cls, url: str, synchronous: str = "normal", merge_seconds: float = 10.0) -> SqlStore:
        return cls(create_engine(url, synchronous), merge_seconds)

    def _on_error(self, context: ExceptionContext) -> None:
        error = context.original_exception
        reason = unavailable_reason(error)
        # A cancelled query (a client went away) also counts as a "disconnect" to SQLAlchemy:
        # only a real error from the driver means the database is gone.
        if reason is None and context.is_disconnect and isinstance(error, Exception):
            reason = "connection lost"
        if reason is None:
            return
        raise self._unavailable(reason) from context.original_exception

    def _connect(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:  # refused, unreachable, timed out (TimeoutError is an OSError)
            raise self._unavailable(f"cannot connect ({type(exc).__name__})") from exc

    def _unavailable(self, reason: str) -> Unavailable:
        self._writable = False
        self._probe_due = 0.0
        logger.error("database not writable: %s", reason)
        return Unavailable()

    async def health(self) -> str:
        """"ok" or "not writable", from a small write at most every few seconds.

        A failed write anywhere marks the store not writable at once; then each
        /healthz (at most once a second) tries again, so the answer turns back to
        "ok" by itself once the disk has room again.
        """
        now = time.monotonic()
        if now >= self._probe_due:
            self._probe_due = now + HEALTH_PROBE_SECONDS
            self._writable = await self._probe()
            if not self._writable:
                self._probe_due = now + HEALTH_RETRY_SECONDS
        return "ok" if self._writable else "not writable"

    async def _probe(self) -> bool:
        try:
            await self.put_setting(PROBE_KEY, datetime.now(UTC).isoformat(), None)
        except Unavailable:
            return False
        except Exception as exc:  # /healthz is liveness: it reports, never fails
            logger.warning("database health probe failed: %s", type(exc).__name__)
            return False
        return True

    async def ping(self) -> None:
        """One round trip to the database (/readyz); raises Unavailable when it is down."""
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def create_schema(self) -> None:
        """Migrate to the newest schema (server/migrations), under a lock across processes."""
        await schema.upgrade(self._engine)

    async def check_schema(self) -> None:
        """Raise schema.SchemaError unless the database is at the newest schema."""
        await schema.check(self._engine)

    async def setting_or_default(self, key: str, default: str) -> str:
        """The stored setting; when there is none, store `default` first. Atomic across
        processes: the primary key lets one first writer win, and everyone reads its value."""
        if (found := await self.get_setting(key)) is not None:
            return found
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(SETTING).values(key=key, value=default))
        except IntegrityError:
            pass  # another process stored it first
        found = await self.get_setting(key)
        assert found is not None
        return found

    async def close(self) -> None:
        try:
            await self._transactions.close()
        finally:
            await self._engine.dispose()

    async def add(
        self, draft: Draft, status: Status, now: datetime
    ) -> tuple[Barrage, Event | None]:
        try:
            [added] = await self._transactions.run(lambda conn: self._insert(conn, [(draft, status)], now))
            return added
        except IntegrityError:
            if draft.dedupe_key is None:
                raise
            existing = await self.by_dedupe_key(draft.dedupe_key)
            if existing is None:
                raise
            return existing, None

    async def add_many(
        self, items: Sequence[tuple[Draft, Status]], now: datetime
    ) -> list[tuple[Barrage, Event | None]]:
        """Many submissions in one transaction: a few statements, one commit (group commit)."""
        if len(items) == 1:
            return [await self.add(*items[0], now)]
        try:
            return list(await self._transactions.run(lambda conn: self._insert(conn, items, now)))
        except IntegrityError:
            # A repeated delivery inside the batch: one at a time, where add() resolves it.
            return [await self.add(draft, status, now) for draft, status in items]

    def _insert(
        self, conn: Connection, items: Sequence[tuple[Draft, Status]], now: datetime
    ) -> list[tuple[Barrage, Event]]:
        """Insert the barrages and append their events; repeats join their first (×N).

        Synchronous, a Transactions' work: on SQLite it runs whole on the writer's thread.
        The insert comes first, so on SQLite the transaction holds the write lock before it
        looks for firsts; on PostgreSQL the event log's lock is taken before the look-up. Either
        way two transactions never both miss each other's first: two processes make one first."""
        rows = [_draft_values(draft, status, now) for draft, status in items]
        ids = _insert_barrages(conn, rows)
        barrages = [_barrage({**row, "id": new_id}) for row, new_id in zip(rows, ids, strict=True)]
        repeats: dict[int, merge.EventTuple] = {}
        if locked := any(merge.key(b) for b in barrages):
            _lock_event_log(conn)
            barrages, repeats = merge.join(conn, barrages, now - self._merge_window, _barrage)
        events = [repeats.get(b.id) or (_kind_for(b.status), b.to_dict(), b.id) for b in barrages]
        event_ids = _append_events(conn, [_event_row(*event, now) for event in events], locked)
        return [(b, Event(eid, kind, payload))
                for b, eid, (kind, payload, _) in zip(barrages, event_ids, events, strict=True)]

    async def decide(
        self, barrage_id: int, status: Status, moderator: str, now: datetime, reason: str | None = None
    ) -> tuple[Barrage, Event]:
        """The barrage, or the first it was merged into, and with it every repeat (×N)."""
        if not 0 < barrage_id <= MAX_ID:
            raise NotFound(f"no barrage {barrage_id}")
        # the sender's reason: the one given (a mute), else who rejected it; an approval
        # leaves nothing to explain
        values = {"status": status.value, "decided_at": now, "decided_by": moderator,
                  "reason": reason if reason is not None
                  else rejected_by(moderator) if status is Status.REJECTED else None}
        async with self._engine.begin() as conn:
            await conn.run_sync(_lock_event_log)
            first = _first_of(barrage_id)
            cas = (update(BARRAGE).where(BARRAGE.c.id == first, BARRAGE.c.status == Status.PENDING.value)
                   .values(**values).returning(BARRAGE.c.id))
            if (decided := (await conn.execute(cas)).scalar()) is not None:
                repeats = (BARRAGE.c.merged_into == decided, BARRAGE.c.status == Status.PENDING.value)
                # A reason given is the first's own (its sender muted); its repeats' senders
                # were rejected with it, by the moderator.
                theirs = rejected_by(moderator) if status is Status.REJECTED else None
                await conn.execute(update(BARRAGE).where(*repeats).values(**{**values, "reason": theirs}))
                await _open_posted_cards(conn, [decided])
                barrage = await _get(conn, decided)
                assert barrage is not None
                kind = EventKind.BARRAGE if status is Status.APPROVED else EventKind.REJECTED
                return barrage, await _append(conn, kind, barrage.to_dict(), decided, now, locked=True)
            barrage = await _get_first(conn, barrage_id)
        if barrage is None:
            raise NotFound(f"no barrage {barrage_id}")
        raise AlreadyDecided(barrage.status.value, barrage.decided_by, barrage)

    async def undo(
        self, barrage_id: int, decided_after: datetime, now: datetime
    ) -> tuple[Barrage, Event | None]:
        """The barrage, or the first it was merged into, with the repeats its decision decided."""
        if not 0 < barrage_id <= MAX_ID:
            raise NotFound(f"no barrage {barrage_id}")
        async with self._engine.begin() as conn:
            await conn.run_sync(_lock_event_log)
            before = await _get_first(conn, barrage_id)
            if before is None:
                raise NotFound(f"no barrage {barrage_id}")
            cas = (
                update(BARRAGE)
                .where(BARRAGE.c.id == before.id,
                       BARRAGE.c.status.in_([Status.APPROVED.value, Status.REJECTED.value]),
                       BARRAGE.c.decided_at > decided_after,
                       # approved at submission: same moment, by "auto" (Barrage.auto_approved)
                       ~and_(BARRAGE.c.decided_by == AUTO, BARRAGE.c.decided_at == BARRAGE.c.created_at))
                .values(**UNDECIDED)
            )
            if (await conn.execute(cas)).rowcount == 1:
                await _undo_repeats(conn, before)
                # A card that could not be posted left a closed placeholder: drop it so
                # the card loop tries again; real cards are reopened (cards_to_reopen).
                placeholders = (CARD.c.barrage_id == before.id, CARD.c.message_id == "")
                await conn.execute(delete(CARD).where(*placeholders))
                barrage = await _get(conn, before.id)
                assert barrage is not None
                payload = barrage.to_dict()
                return barrage, await _append(conn, EventKind.PENDING, payload, barrage.id, now, locked=True)
        return before, None

    async def retract(self, barrage_id: int, moderator: str, now: datetime) -> tuple[Barrage, Event]:
        if not 0 < barrage_id <= MAX_ID:
            raise NotFound(f"no barrage {barrage_id}")
        values = {"status": Status.RETRACTED.value, "retracted_by": moderator, "retracted_at": now}
        cas = (
            update(BARRAGE)
            .where(BARRAGE.c.id == barrage_id, BARRAGE.c.status == Status.APPROVED.value)
            .values(**values)
        )
        async with self._engine.begin() as conn:
            await conn.run_sync(_lock_event_log)
            if (await conn.execute(cas)).rowcount == 1:
                # Its repeats (×N) leave with it: none of them flies on its own.
                await conn.execute(update(BARRAGE).where(
                    BARRAGE.c.merged_into == barrage_id, BARRAGE.c.status == Status.APPROVED.value)
                    .values(**values))
                # Its closed cards open again, so the card loop edits them once more
                # ("Removed by …"), with the status change: no card misses it.
                posted = (CARD.c.barrage_id == barrage_id, CARD.c.message_id != "")
                await conn.execute(update(CARD).where(*posted).values(closed=False))
                barrage = await _get(conn, barrage_id)
                assert barrage is not None
                payload = {"id": barrage_id, "room": barrage.room, "by": moderator}
                return barrage, await _append(conn, EventKind.RETRACT, payload, barrage_id, now, locked=True)
            barrage = await _get(conn, barrage_id)
        if barrage is None:
            raise NotFound(f"no barrage {barrage_id}")
        raise CannotRetract(barrage)

    async def expiry_due(self, deadline: datetime | None, max_pending: int) -> bool:
        """Is any pending barrage past `deadline`, or any room over `max_pending`? A read, so
        that the common answer (no) costs every process no write lock."""
        # Cheaper than `_due`'s window (about a quarter of its cost with 1,000 pending): one
        # indexed look for an overdue row, one count per room.
        over_cap = (select(BARRAGE.c.room).where(HEAD).group_by(BARRAGE.c.room)
                    .having(func.count() > max_pending).limit(1))
        checks = [over_cap]
        if deadline is not None:
            checks.insert(0, select(BARRAGE.c.id).where(HEAD, BARRAGE.c.created_at < deadline.astimezone(UTC))
                          .limit(1))
        async with self._engine.connect() as conn:
            for check in checks:
                if (await conn.execute(check)).first() is not None:
                    return True
        return False

    async def expire(
        self, deadline: datetime | None, max_pending: int, now: datetime, limit: int
    ) -> list[tuple[Barrage, Event]]:
        """Compare-and-set pending → expired for up to `limit` due barrages (the oldest first),
        and for the repeats merged into them, with an `expired` event each, in one transaction.

        Every process may call this at any time. The status check in the UPDATE makes each
        barrage expire once whoever runs it; a decision that commits first wins. On PostgreSQL
        a pass that finds another one in progress (EXPIRY_LOCK) returns at once, so two passes
        never pick the oldest-over-the-cap from two snapshots (and never wait on each other's
        rows); on SQLite the database's one writer does the same, since the UPDATE reads what
        it expires under the write lock."""
        async with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql" and not (
                    await conn.execute(TRY_LOCK_EXPIRY, {"key": EXPIRY_LOCK})).scalar():
                return []
            # Before the look-up, as decide does: a repeat merging into a first (×N) waits until
            # this commits, so none joins a first this pass expires and is left waiting alone.
            await conn.run_sync(_lock_event_log)
            due = select(BARRAGE.c.id).where(_due(deadline, max_pending)).order_by(BARRAGE.c.id).limit(limit)
            expired = await _expire_where(conn, BARRAGE.c.id.in_(due), now)
            if heads := [b.id for b in expired]:
                expired += await _expire_where(conn, BARRAGE.c.merged_into.in_(heads), now)
                await _open_posted_cards(conn, heads)
            expired.sort(key=lambda barrage: barrage.id)
            if not expired:
                return []
            rows = [_event_row(EventKind.EXPIRED, b.to_dict(), b.id, now) for b in expired]
            event_ids = await conn.run_sync(_append_events, rows, True)
        return [(b, Event(eid, EventKind.EXPIRED, b.to_dict()))
                for b, eid in zip(expired, event_ids, strict=True)]

    async def get(self, barrage_id: int) -> Barrage | None:
        if not 0 < barrage_id <= MAX_ID:
            return None
        async with self._engine.connect() as conn:
            return await _get(conn, barrage_id)

    async def list(self, status: Status | None, after_id: int, limit: int,
                   room: str | None = None) -> list[Barrage]:
        query = select(BARRAGE).where(BARRAGE.c.id > min(after_id, MAX_ID))
        if status is not None:
            query = query.where(*_with_status(status))
        if room is not None:
            query = query.where(BARRAGE.c.room == room)
        async with self._engine.connect() as conn:
            rows = await conn.execute(query.order_by(BARRAGE.c.id).limit(limit))
            return [_barrage(row._mapping) for row in rows]

    async def by_sender(self, sender: str, limit: int) -> list[Barrage]:
        # ix_barrage_sender finds a sender's few rows; newest first, so the limit keeps the latest.
        query = select(BARRAGE).where(BARRAGE.c.sender == sender).order_by(BARRAGE.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [_barrage(row._mapping) for row in await conn.execute(query)]

    async def events_after(
        self, event_id: int, kinds: Sequence[EventKind], limit: int, room: str | None = None,
        skip_retracted: bool = False,
    ) -> list[Event]:
        query = (
            select(EVENT.c.id, EVENT.c.kind, EVENT.c.payload)
            .where(EVENT.c.id > min(event_id, MAX_ID), EVENT.c.kind.in_([k.value for k in kinds]))
            .order_by(EVENT.c.id)
            .limit(limit)
        )
        if room is not None:
            query = query.where(EVENT.c.room == room)
        if skip_retracted:
            query = query.where(~_retracted_barrage_event())
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [Event(row.id, EventKind(row.kind), json.loads(row.payload)) for row in rows]

    async def latest_events(self, kinds: Sequence[EventKind], limit: int) -> list[Event]:
        # ix_event_kind holds ids in order within a kind: a short backward walk, no scan.
        query = (select(EVENT.c.id, EVENT.c.kind, EVENT.c.payload)
                 .where(EVENT.c.kind.in_([k.value for k in kinds])).order_by(EVENT.c.id.desc()).limit(limit))
        async with self._engine.connect() as conn:
            return [Event(row.id, EventKind(row.kind), json.loads(row.payload))
                    for row in await conn.execute(query)]

    async def last_event_id(self) -> int:
        async with self._engine.connect() as conn:
            return (await conn.execute(select(func.max(EVENT.c.id)))).scalar() or 0

    async def get_setting(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            query = select(SETTING.c.value).where(SETTING.c.key == key)
            return (await conn.execute(query)).scalar()

    async def put_setting(
        self, key: str, value: str, event: tuple[EventKind, dict[str, Any]] | None
    ) -> Event | None:
        async with self._engine.begin() as conn:
            # One statement: an UPDATE-then-INSERT lets two nodes starting on a new database
            # both find no row and both insert (the loser failed its start).
            upsert = UPSERT[conn.dialect.name](SETTING).values(key=key, value=value)
            await conn.execute(upsert.on_conflict_do_update(index_elements=[SETTING.c.key],
                                                            set_={"value": value}))
            if event is None:
                return None
            return await _append(conn, event[0], event[1], None, datetime.now(UTC))

    async def settings_under(self, prefix: str) -> dict[str, str]:
        """Every setting whose key starts with `prefix` (the nodes' presence rows)."""
        query = select(SETTING.c.key, SETTING.c.value).where(
            SETTING.c.key.startswith(prefix, autoescape=True))
        async with self._engine.connect() as conn:
            return {row.key: row.value for row in await conn.execute(query)}

    async def delete_setting(self, key: str, value: str | None = None) -> None:
        """Remove `key`; given `value`, only while it still holds that (one rewritten since stays)."""
        query = delete(SETTING).where(SETTING.c.key == key)
        if value is not None:
            query = query.where(SETTING.c.value == value)
        async with self._engine.begin() as conn:
            await conn.execute(query)

    async def count(self, status: Status, decided_since: datetime | None = None,
                    room: str | None = None) -> int:
        query = select(func.count()).select_from(BARRAGE).where(*_with_status(status))
        if decided_since is not None:
            query = query.where(BARRAGE.c.decided_at >= decided_since)
        if room is not None:
            query = query.where(BARRAGE.c.room == room)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar() or 0

    async def rooms(self) -> list[Room]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(ROOM).order_by(ROOM.c.slug))
            return [_room(row._mapping) for row in rows]

    async def add_room(
        self, room: Room, event: tuple[EventKind, dict[str, Any]]
    ) -> tuple[Room, Event | None]:
        """Insert the room with its event; a slug already stored: that room, and no event."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(ROOM).values(**_room_values(room)))
                return room, await _append(conn, event[0], event[1], None, datetime.now(UTC))
        except IntegrityError:
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(ROOM).where(ROOM.c.slug == room.slug))).first()
            if row is None:
                raise
            return _room(row._mapping), None

    async def update_room(
        self, slug: str, changes: dict[str, Any], event: tuple[EventKind, dict[str, Any]],
        only_if_changed: bool = False,
    ) -> tuple[Room, Event | None]:
        """Change the room's columns named in `changes` (none: the event alone, e.g. a clear;
        the row is still locked, so it orders with the room's other writes), with its event.
        `only_if_changed`: when every column already holds its value, write nothing and return
        no event (the database decides, not a process's copy that may lag). Raises NotFound."""
        async with self._engine.begin() as conn:
            query = update(ROOM).where(ROOM.c.slug == slug).values(**(changes or {"slug": ROOM.c.slug}))
            if only_if_changed and changes:
                query = query.where(or_(*(ROOM.c[k].is_distinct_from(v) for k, v in changes.items())))
            row = (await conn.execute(query.returning(*ROOM.c))).first()
            if row is not None:
                return _room(row._mapping), await _append(conn, event[0], event[1], None, datetime.now(UTC))
            row = (await conn.execute(select(ROOM).where(ROOM.c.slug == slug))).first()
        if row is None:
            raise NotFound(f"no room {slug}")
        return _room(row._mapping), None

    async def append(self, kind: EventKind, payload: dict[str, Any]) -> Event:
        async with self._engine.begin() as conn:
            return await _append(conn, kind, payload, None, datetime.now(UTC))

    async def lottery_pool(self, room: str, since: datetime | None) -> list[str]:
        query = select(BARRAGE.c.sender).where(*_approved_in(room, since)).group_by(BARRAGE.c.sender)
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def latest_authors(
        self, room: str, senders: Sequence[str], since: datetime | None
    ) -> dict[str, tuple[str, Source]]:
        latest = (select(func.max(BARRAGE.c.id)).where(*_approved_in(room, since),
                                                       BARRAGE.c.sender.in_(list(senders)))
                  .group_by(BARRAGE.c.sender))
        query = select(BARRAGE.c.sender, BARRAGE.c.author, BARRAGE.c.source).where(BARRAGE.c.id.in_(latest))
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return {row.sender: (row.author, Source(row.source)) for row in rows}

    async def digest(self, room: str) -> Digest:
        async with self._engine.connect() as conn:
            return await digest.read(conn, room)

    async def mute(self, mute: Mute, now: datetime) -> Event:
        values = {"sender": mute.sender, "until": mute.until, "reason": mute.reason,
                  "muted_by": mute.muted_by, "created_at": now}
        async with self._engine.begin() as conn:
            upsert = UPSERT[conn.dialect.name](MUTE).values(**values)
            await conn.execute(upsert.on_conflict_do_update(
                index_elements=[MUTE.c.sender], set_={k: v for k, v in values.items() if k != "sender"}))
            return await _append(conn, EventKind.MUTES, event_payload(mute, mute.sender), None, now)

    async def unmute(self, sender: str, now: datetime) -> Event | None:
        async with self._engine.begin() as conn:
            deleted = delete(MUTE).where(MUTE.c.sender == sender).returning(MUTE.c.until)
            gone = (await conn.execute(deleted)).first()
            if gone is None or not Mute(sender, _aware(gone.until) if gone.until else None).active(now):
                return None  # an expired row goes all the same: nobody is told of it
            return await _append(conn, EventKind.MUTES, event_payload(None, sender), None, now)

    async def mutes(self, now: datetime, limit: int, sender: str | None = None) -> list[Mute]:
        # SQLite compares stored UTC text: compare in UTC
        query = select(MUTE).where(or_(MUTE.c.until.is_(None), MUTE.c.until > now.astimezone(UTC)))
        if sender is not None:
            query = query.where(MUTE.c.sender == sender)
        query = query.order_by(MUTE.c.created_at.desc(), MUTE.c.sender).limit(limit)
        async with self._engine.connect() as conn:
            return [Mute(row.sender, _aware(row.until) if row.until else None, row.reason, row.muted_by)
                    for row in await conn.execute(query)]

    async def count_by_sender(self, sender: str, status: Status, reason: str, since: datetime) -> int:
        # ix_barrage_sender narrows it to the sender's rows first
        query = select(func.count()).select_from(BARRAGE).where(
            BARRAGE.c.sender == sender, BARRAGE.c.status == status.value, BARRAGE.c.reason == reason,
            BARRAGE.c.created_at >= since.astimezone(UTC))
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar() or 0

    async def by_dedupe_key(self, key: str) -> Barrage | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(BARRAGE).where(BARRAGE.c.dedupe_key == key))).first()
            return _barrage(row._mapping) if row else None

    async def forget_dedupe_key(self, key: str, barrage_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(BARRAGE).where(
                BARRAGE.c.id == barrage_id, BARRAGE.c.dedupe_key == key).values(dedupe_key=None))


    async def filter_rules(self) -> list[Rule]:
        async with self._engine.connect() as conn:
            return [_rule(row._mapping) for row in await conn.execute(select(RULE).order_by(RULE.c.id))]

    async def add_filter_rule(self, spec: RuleSpec, by: str) -> tuple[Rule, Event]:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            values = {**_rule_values(spec), "created_at": now}
            result = await conn.execute(insert(RULE).values(**values))
            rule = _rule({**values, "id": result.inserted_primary_key[0]})
            return rule, await _append(conn, EventKind.FILTERS, _rules_changed("added", rule, by), None, now)

    async def delete_filter_rule(self, rule_id: int, by: str) -> tuple[Rule, Event]:
        if not 0 < rule_id <= MAX_ID:
            raise NotFound(f"no filter rule {rule_id}")
        async with self._engine.begin() as conn:
            row = (await conn.execute(delete(RULE).where(RULE.c.id == rule_id).returning(*RULE.c))).first()
            if row is None:
                raise NotFound(f"no filter rule {rule_id}")
            rule = _rule(row._mapping)
            event = await _append(conn, EventKind.FILTERS, _rules_changed("deleted", rule, by), None,
                                  datetime.now(UTC))
            return rule, event

    async def seed_filter_rules(self, specs: Sequence[RuleSpec]) -> tuple[int, Event | None]:
        """Store `specs` unless this database was seeded already (by this or any process):
        the `filter.seeded` setting's primary key lets one first writer in. How many, and the event."""
        now = datetime.now(UTC)
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(SETTING).values(key=SEEDED_KEY, value=now.isoformat()))
                if not specs:
                    return 0, None
                await conn.execute(insert(RULE), [{**_rule_values(s), "created_at": now} for s in specs])
                payload = {"change": "seeded", "count": len(specs), "by": "seed file"}
                return len(specs), await _append(conn, EventKind.FILTERS, payload, None, now)
        except IntegrityError:
            return 0, None  # seeded before


def _rule_values(spec: RuleSpec) -> dict[str, Any]:
    return {"pattern": spec.pattern, "kind": spec.kind, "action": spec.action, "note": spec.note}


def _rule(row: Any) -> Rule:
    return Rule(row["id"], row["pattern"], row["kind"], row["action"], row["note"])


def _rules_changed(change: str, rule: Rule, by: str) -> dict[str, Any]:
    # Never the pattern: the admin stream is no place to repeat a slur; the id says which.
    return {"change": change, "id": rule.id, "action": rule.action, "by": by}


def _with_status(status: Status) -> tuple[Any, ...]:
    """Barrages of that status; the pending ones without the repeats (×N) waiting with a first."""
    if status is Status.PENDING:
        return BARRAGE.c.status == status.value, BARRAGE.c.merged_into.is_(None)
    return (BARRAGE.c.status == status.value,)


def _approved_in(room: str, since: datetime | None) -> list[Any]:
    """A lottery's tickets: approved now (a retracted barrage no longer counts), with a sender."""
    where = [BARRAGE.c.room == room, BARRAGE.c.status == Status.APPROVED.value, BARRAGE.c.sender.is_not(None)]
    if since is not None:  # SQLite compares stored UTC text: compare in UTC
        where.append(BARRAGE.c.created_at >= since.astimezone(UTC))
    return where


PENDING = BARRAGE.c.status == Status.PENDING.value
HEAD = and_(PENDING, BARRAGE.c.merged_into.is_(None))  # in the pending list: not a ×N repeat


def _due(deadline: datetime | None, max_pending: int) -> Any:
    """Pending and past the deadline, or pushed out of its room's `max_pending` newest.

    The cap counts a room's pending list, as moderators see it: the first of a ×N, never its
    repeats (they go with it). The window numbers each room's pending from the newest, so the
    oldest beyond the cap are found in one statement, from one snapshot."""
    newest_first = func.row_number().over(partition_by=BARRAGE.c.room, order_by=BARRAGE.c.id.desc())
    ranked = select(BARRAGE.c.id, newest_first.label("rank")).where(HEAD).subquery()
    over_cap = select(ranked.c.id).where(ranked.c.rank > max_pending)
    if deadline is None:  # pending_ttl_seconds = 0: only the cap
        return and_(HEAD, BARRAGE.c.id.in_(over_cap))
    # SQLite compares stored UTC text: compare in UTC
    return and_(HEAD, or_(BARRAGE.c.created_at < deadline.astimezone(UTC), BARRAGE.c.id.in_(over_cap)))


async def _expire_where(conn: AsyncConnection, which: Any, now: datetime) -> list[Barrage]:
    cas = (update(BARRAGE).where(which, PENDING)
           # not notified: the card loops tell a chat sender (bot/cards.py)
           .values(status=Status.EXPIRED.value, decided_at=now, decided_by=None, reason=REASON_EXPIRED,
                   notified=False)
           .returning(*BARRAGE.c))
    return [_barrage(row._mapping) for row in await conn.execute(cas)]


def _retracted_barrage_event() -> Any:
    """A `barrage` event whose barrage was retracted since: a screen never flies it again;
    nor a `merge` into it (its event's barrage_id is the first's)."""
    retracted = select(BARRAGE.c.id).where(BARRAGE.c.id == EVENT.c.barrage_id,
                                           BARRAGE.c.status == Status.RETRACTED.value)
    return and_(EVENT.c.kind.in_([EventKind.BARRAGE.value, EventKind.MERGE.value]), retracted.exists())


def _kind_for(status: Status) -> EventKind:
    """A barrage rejected as it is stored (a blocked word, a shadow-muted sender) is `rejected`:
    desks and cards never meet it as pending."""
    kinds = {Status.APPROVED: EventKind.BARRAGE, Status.REJECTED: EventKind.REJECTED}
    return kinds.get(status, EventKind.PENDING)


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _insert_returning_ids(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows in multi-row statements; their ids, in row order.

    Autoincrement ids are handed out in row order within a statement, and our
    statements run one after another, so sorting the returned ids restores the
    row order. (sort_by_parameter_order would do the same, but on SQLite it
    made group commit twice as slow in bench/.)
    """
    return sorted(conn.execute(INSERT_RETURNING_ID[table.name], rows).scalars())


async def _append(
    conn: AsyncConnection, kind: EventKind, payload: dict[str, Any], barrage_id: int | None,
    now: datetime, locked: bool = False,
) -> Event:
    [event_id] = await conn.run_sync(_append_events, [_event_row(kind, payload, barrage_id, now)], locked)
    return Event(event_id, kind, payload)


def _event_row(kind: EventKind, payload: dict[str, Any], barrage_id: int | None,
               now: datetime) -> dict[str, Any]:
    return {"kind": kind.value, "barrage_id": barrage_id, "created_at": now, "payload": _dumps(payload),
            "room": payload.get("room") or MAIN}


def _append_events(conn: Connection, rows: list[dict[str, Any]], locked: bool = False) -> list[int]:
    """Append rows to the event log as the transaction's last statement; their ids, in order.

    Readers take "every event after id k" from the log (SSE replay, a node filling a gap in
    what its bus delivered), so ids must be contiguous and commit in id order, whatever
    number of processes write: an id that commits after a higher one, or a skipped id,
    would be lost for every screen (or waited for forever).

    SQLite gives both already: one writer at a time holds the database's write lock from
    its transaction's first write to its commit, and the event's id is handed out inside
    that (AUTOINCREMENT's counter, sqlite_sequence, is a table written in the same
    transaction, so a rollback gives the id back). Every write transaction here starts
    with a write, so the lock is taken at its start and no BEGIN IMMEDIATE is needed;
    and SQLite has no other way to commit.

    PostgreSQL's sequences give neither: nextval is not transactional (a rollback leaves
    a gap) and transactions commit in any order after taking their ids. So every
    appending transaction takes one transaction-level advisory lock, then numbers its
    rows max(id) + 1, … (an index-only lookup). The next holder waits for the commit,
    and its insert, a new statement with a new snapshot under READ COMMITTED, sees the
    rows just committed: commit order is id order, and a rollback numbers nothing.
    The lock is taken last, just before the insert (which numbers its own rows, one
    round trip), so it is held for the insert and the commit only (except where a
    transaction must see every other appender's rows: ×N merging looks for a first under
    it, so decide, undo and retract, which write rows a merge writes, take it first too); the rest of the
    transaction (the barrage rows, a decision's compare-and-set) runs in parallel
    across processes. Every round trip under the lock counts: each is a handoff
    between this process and its backend while the other writers wait. Its holder
    waits on nothing but its own commit, so it cannot deadlock, and commit or rollback
    release it (a crashed process never keeps it; a frozen one keeps it for
    IDLE_IN_TRANSACTION_MS at most). Not a counter row: that needs a schema change
    for the same serialisation. Not LOCK TABLE event (eventsourcing's choice): it would
    also collide with VACUUM's and index builds' locks on the table; an advisory lock
    names only itself.
    """
    if conn.dialect.name != "postgresql":
        if len(rows) == 1:  # one row: its id without RETURNING (the cheaper statement)
            return [conn.execute(INSERT[EVENT.name], rows[0]).inserted_primary_key[0]]
        return _insert_returning_ids(conn, EVENT, rows)
    if not locked:
        _lock_event_log(conn)
    columns = {name: [row[name] for row in rows] for name in EVENT_COLUMNS}
    # Numbered in the insert itself: one round trip fewer while the lock is held.
    return sorted(conn.execute(APPEND_NUMBERED, columns).scalars())


async def _open_posted_cards(conn: AsyncConnection, barrage_ids: list[int]) -> None:
    """Open the posted cards of barrages just decided or expired, so the card loops edit them
    to the verdict: a ×N repeat may have closed one for the reopen pass (server/store/merge.py),
    which looks at pending barrages only, and no loop would ever edit it again."""
    posted = (CARD.c.barrage_id.in_(barrage_ids), CARD.c.message_id != "", CARD.c.closed.is_(True))
    await conn.execute(update(CARD).where(*posted).values(closed=False))


def _lock_event_log(conn: Connection) -> None:
    """PostgreSQL: the event log's lock (see _append_events), taken early by a transaction that
    must see every other appender's rows (×N merging), and so by every transaction that
    writes a row a merge may write too (decide, undo, retract), before it does: one lock
    order, so no deadlock. Reentrant within the transaction. SQLite: its write lock, taken
    by a transaction's first write, does the same."""
    if conn.dialect.name == "postgresql":
        conn.execute(LOCK_EVENT_LOG, {"key": EVENT_LOG_LOCK})


def _first_of(barrage_id: int) -> Any:
    """The barrage's id, or (a repeat, ×N) its first's: the one that is decided."""
    named = BARRAGE.alias("named")  # not correlated with the UPDATE's own row
    first = func.coalesce(named.c.merged_into, named.c.id)
    return select(first).where(named.c.id == barrage_id).scalar_subquery()


async def _get_first(conn: AsyncConnection, barrage_id: int) -> Barrage | None:
    barrage = await _get(conn, barrage_id)
    if barrage is None or barrage.merged_into is None:
        return barrage
    return await _get(conn, barrage.merged_into)


async def _undo_repeats(conn: AsyncConnection, first: Barrage) -> None:
    """The repeats its decision decided wait again with it (and will hear its next decision)."""
    decided_with = (BARRAGE.c.merged_into == first.id, BARRAGE.c.status == first.status.value,
                    BARRAGE.c.decided_at == first.decided_at, BARRAGE.c.decided_by == first.decided_by)
    await conn.execute(update(BARRAGE).where(*decided_with).values(**UNDECIDED))


def _insert_barrages(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    if len(rows) == 1:  # one row: its id without RETURNING (the cheaper statement)
        return [conn.execute(INSERT[BARRAGE.name], rows[0]).inserted_primary_key[0]]
    return _insert_returning_ids(conn, BARRAGE, rows)


async def _get(conn: AsyncConnection, barrage_id: int) -> Barrage | None:
    row = (await conn.execute(select(BARRAGE).where(BARRAGE.c.id == barrage_id))).first()
    return _barrage(row._mapping) if row else None


def _draft_values(draft: Draft, status: Status, now: datetime) -> dict[str, Any]:
    decided = status is not Status.PENDING
    return {
        "text": draft.text, "author": draft.author, "author_ref": draft.author_ref,
        "source": draft.source.value, "color": draft.color, "size": draft.size.value,
        "status": status.value, "created_at": now, "dedupe_key": draft.dedupe_key,
        "decided_at": now if decided else None,
        "decided_by": AUTO if decided else None,
        "reply_to": draft.reply_to,
        "sender": draft.sender,
        "room": draft.room,
        # auto-approved: the submit reply already told the sender
        "notified": decided,
        "reason": draft.reason,
        "flags": json.dumps(list(draft.flags)),
        "norm": draft.norm[:STORED_NORM],
    }


def _barrage(row: Any) -> Barrage:
    return Barrage(
        id=row["id"], text=row["text"], author=row["author"], color=row["color"],
        size=Size(row["size"]), source=Source(row["source"]), status=Status(row["status"]),
        created_at=_aware(row["created_at"]), author_ref=row["author_ref"],
        decided_at=_aware(row["decided_at"]) if row["decided_at"] else None,
        decided_by=row["decided_by"], reply_to=row["reply_to"], sender=row["sender"], room=row["room"],
        # a row just inserted (a dict of its values) has no retraction yet
        retracted_by=row.get("retracted_by"),
        retracted_at=_aware(row["retracted_at"]) if row.get("retracted_at") else None,
        reason=row.get("reason"), flags=tuple(json.loads(row.get("flags") or "[]")),
        norm=row.get("norm") or "", merged_into=row.get("merged_into"), count=row.get("merged_count") or 1,
    )


def _room_values(room: Room) -> dict[str, Any]:
    return {**room.to_dict(), "mode": room.mode.value}


def _room(row: Any) -> Room:
    return Room(slug=row["slug"], title=row["title"], join_text=row["join_text"], mode=Mode(row["mode"]),
                crossing_seconds=row["crossing_seconds"], paused=bool(row["paused"]),
                announcement=row["announcement"])


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
