"""Screening: what the filter rules and the room's mode make of a barrage before it is stored.

The seam every submission passes (BarrageService.submit): `screen(draft, mode)` gives the
status to store it with and the draft as stored (with its flags, its reason and, for
`replace` rules, the text with `***`). This first version knows the modes only: `off`
approves, `auto` and `manual` hold for a moderator. The rules, the automaton and links
come in server/core/filters.py's full version (issue 12).
"""

from __future__ import annotations

from server.core.model import Draft, Mode, Status


class Filters:
    def screen(self, draft: Draft, mode: Mode) -> tuple[Status, Draft]:
        return (Status.APPROVED if mode is Mode.OFF else Status.PENDING), draft

    def on_event(self, _event: object) -> None:
        """Bus handler: the rules changed on some process (a `filters` event)."""
