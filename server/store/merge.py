"""×N merging: a repeat of a text already waiting (or just flown) joins that first barrage.

A crowd sends "Happy New Year" two hundred times in a minute: one card, one item on
the desk, one comment on the screen, with a count. In the store, as part of the
submission's transaction (server/store/sql.py `_insert`), after the event log's lock:

- pending: a barrage whose normalised text (`norm`) equals a pending first's in the same
  room is stored pending with `merged_into` = that first's id; the first's `merged_count`
  grows; its posted cards are closed, so the card loops open them again with the new
  count (bot/cards.py); the log gets a `pending` event carrying the first (its new count),
  so every desk shows it;
- approved: one equal to a first approved in the same room within `screen.merge_seconds`
  is stored approved with `merged_into`; the log gets `merge` {"id": first, "count": N}
  instead of `barrage`: screens add "×N" to the item, it does not fly again.

An empty `norm` never merges, nor does a rejected barrage, nor a repeat into a repeat.
Repeats inside one group commit merge too: the first of them in submission order is the
first, unless one was stored before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from server.core.model import Barrage, EventKind, Status
from server.store.tables import BarrageRow, CardRow

BARRAGE = BarrageRow.__table__
CARD = CardRow.__table__
MERGING = (Status.PENDING, Status.APPROVED)

Key = tuple[Status, str, str]  # status, room, norm
EventTuple = tuple[EventKind, dict[str, Any], int]

# Built once: a statement built per submission cost more than running it (its bound values
# and cache key, each time). An approved first counts only within screen.merge_seconds.
# "since" is passed to both; a statement ignores a value it has no parameter for.
FIRST_COLUMNS = (BARRAGE.c.id, BARRAGE.c.status, BARRAGE.c.room, BARRAGE.c.norm)
FIRSTS = (select(*FIRST_COLUMNS)
          .where(BARRAGE.c.merged_into.is_(None), BARRAGE.c.room == bindparam("room"),
                 BARRAGE.c.status == bindparam("status"),
                 BARRAGE.c.norm.in_(bindparam("norms", expanding=True)))
          .order_by(BARRAGE.c.id))
FIRSTS_APPROVED = FIRSTS.where(BARRAGE.c.decided_at >= bindparam("since"))


def key(barrage: Barrage) -> Key | None:
    """What a repeat must share with its first; None: this one never merges."""
    if not barrage.norm or barrage.status not in MERGING:
        return None
    return barrage.status, barrage.room, barrage.norm


def join(
    conn: Connection, barrages: Sequence[Barrage], approved_since: datetime,
    to_barrage: Callable[[Any], Barrage],
) -> tuple[list[Barrage], dict[int, EventTuple]]:
    """Link the just-inserted `barrages` that repeat a first; them (with `merged_into`),
    and each repeat's event by its id. Call with the event log's lock held.

    Synchronous, like the rest of the submission's transaction (server/store/sql.py `_insert`):
    on SQLite it runs whole on the store's writer thread, on PostgreSQL through `run_sync`."""
    own = {b.id for b in barrages}
    found = _stored_firsts(conn, {k for b in barrages if (k := key(b))}, approved_since, own)
    firsts: dict[Key, int] = dict(found)
    linked = []
    for barrage in barrages:
        if (k := key(barrage)) is None:
            linked.append(barrage)
        elif firsts.setdefault(k, barrage.id) == barrage.id:
            linked.append(barrage)  # the first of its text: the batch's earliest, none stored
        else:
            linked.append(replace(barrage, merged_into=firsts[k]))
    repeats = [b for b in linked if b.merged_into is not None]
    if not repeats:
        return linked, {}
    _link(conn, repeats)
    grown = _grow(conn, Counter(b.merged_into for b in repeats), to_barrage)
    _reopen_cards(conn, [f.id for f in grown.values() if f.status is Status.PENDING])
    return linked, _events(repeats, grown)


def _stored_firsts(
    conn: Connection, keys: set[Key], approved_since: datetime, own: set[int]
) -> dict[Key, int]:
    """The first stored for each key, if any (not one of this batch's own rows)."""
    found: dict[Key, int] = {}
    for row in conn.execute(*_firsts_query(_by_status_and_room(keys), approved_since)):
        k = (Status(row.status), row.room, row.norm)
        if row.id in own:
            continue
        if k[0] is Status.APPROVED:
            found[k] = row.id  # the latest flown: the one most likely still on the screens
        else:
            found.setdefault(k, row.id)  # the oldest waiting: the one with the card
    return found


def _firsts_query(groups: dict[tuple[Status, str], list[str]], approved_since: datetime) -> tuple[Any, ...]:
    """One statement (on PostgreSQL each is a round trip under the event log's lock): for one
    (status, room), the usual case, the one built once; for several, one condition each."""
    if len(groups) == 1:
        [((status, room), norms)] = groups.items()
        query = FIRSTS_APPROVED if status is Status.APPROVED else FIRSTS
        return query, {"room": room, "status": status.value, "norms": norms, "since": approved_since}
    conditions = []
    for (status, room), norms in groups.items():
        condition = and_(BARRAGE.c.room == room, BARRAGE.c.status == status.value, BARRAGE.c.norm.in_(norms))
        if status is Status.APPROVED:
            condition = and_(condition, BARRAGE.c.decided_at >= approved_since)
        conditions.append(condition)
    return (select(*FIRST_COLUMNS).where(BARRAGE.c.merged_into.is_(None), or_(*conditions))
            .order_by(BARRAGE.c.id),)


def _by_status_and_room(keys: set[Key]) -> dict[tuple[Status, str], list[str]]:
    """The (room, status, norm) index answers each (status, room)'s condition."""
    norms: dict[tuple[Status, str], list[str]] = {}
    for status, room, norm in keys:
        norms.setdefault((status, room), []).append(norm)
    return norms


def _link(conn: Connection, repeats: list[Barrage]) -> None:
    by_first: dict[int, list[int]] = {}
    for repeat in repeats:
        assert repeat.merged_into is not None
        by_first.setdefault(repeat.merged_into, []).append(repeat.id)
    for first, ids in by_first.items():
        conn.execute(update(BARRAGE).where(BARRAGE.c.id.in_(ids)).values(merged_into=first))


def _grow(
    conn: Connection, joined: Counter[int | None], to_barrage: Callable[[Any], Barrage]
) -> dict[int, Barrage]:
    """Add each first's new repeats to its count; the firsts as they are now."""
    firsts = {}
    for first, more in joined.items():
        grow = (update(BARRAGE).where(BARRAGE.c.id == first)
                .values(merged_count=BARRAGE.c.merged_count + more).returning(*BARRAGE.c))
        row = conn.execute(grow).first()
        assert row is not None  # found under the lock, in this transaction: still there
        firsts[row.id] = to_barrage(row._mapping)
    return firsts


def _reopen_cards(conn: Connection, firsts: list[int]) -> None:
    """The posted cards of a grown first are closed: the card loops' reopen pass (a closed
    card of a pending barrage) edits each again, showing the new count. Many repeats at once
    make one edit or a few, never one each (closing a closed card changes nothing)."""
    if firsts:
        posted = (CARD.c.barrage_id.in_(firsts), CARD.c.message_id != "", CARD.c.closed.is_(False))
        conn.execute(update(CARD).where(*posted).values(closed=True))


def _events(repeats: list[Barrage], firsts: dict[int, Barrage]) -> dict[int, EventTuple]:
    """Each repeat's event, with the count it made (the first's count before this batch, plus
    the repeats up to and including this one): a replay shows the same counts in the same order."""
    counts = Counter(r.merged_into for r in repeats)
    running = {first: barrage.count - counts[first] for first, barrage in firsts.items()}
    events = {}
    for repeat in repeats:
        first = firsts[repeat.merged_into]  # type: ignore[index]
        running[first.id] += 1
        if repeat.status is Status.APPROVED:
            payload = {"id": first.id, "count": running[first.id], "room": first.room}
            events[repeat.id] = (EventKind.MERGE, payload, first.id)
        else:  # the first, waiting with one more sender: every desk updates its count
            events[repeat.id] = (EventKind.PENDING, {**first.to_dict(), "count": running[first.id]}, first.id)
    return events
