"""Decoded rule states kept between events, so that a Faust table's value is not decoded per event.

A table holds ``RuleState.to_dict()`` per routing key. :class:`StateCache` remembers, per key, the
state it last encoded (or decoded) together with the very dict object it handed over; when the table
gives back that same object, the state is reused, otherwise (another value: a recovery from the
changelog, a write that did not happen, a store that deserialises on every read) it decodes the
value. So the cache can never return a state the table does not hold::

    state = cache.get(key, table.get(key))          # decodes only on a miss
    new_state, alerts = evaluate(ruleset, state, event, key, now)
    table[key] = cache.put(key, new_state)          # the JSON form, remembered with the state

This relies on :func:`monitor.rules.evaluate` never changing the state it is given, and on nobody
changing a table value in place (both hold: see ``monitor.rules.state``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from monitor.rules.state import RuleState


class StateCache:
    """Up to ``max_keys`` decoded states (least recently used dropped first); not thread-safe."""

    def __init__(self, max_keys: int = 10_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys: must be at least 1")
        self.max_keys = max_keys
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[dict[str, Any] | None, RuleState]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, stored: dict[str, Any] | None) -> RuleState:
        """The state of ``key`` whose JSON form is ``stored`` (the table's value; None when absent).

        Raises :class:`monitor.errors.DecodeError` when ``stored`` must be decoded and is not a state.
        """
        entry = self._entries.get(key)
        if entry is not None and entry[0] is stored:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]
        self.misses += 1
        state = RuleState.from_dict(stored)
        self._remember(key, stored, state)
        return state

    def put(self, key: str, state: RuleState) -> dict[str, Any]:
        """The JSON form of ``state`` to store under ``key``; the state is remembered with it."""
        data = state.to_dict()
        self._remember(key, data, state)
        return data

    def discard(self, key: str | None = None) -> None:
        """Forget one key's state, or every state (e.g. when partitions are revoked)."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    def _remember(self, key: str, data: dict[str, Any] | None, state: RuleState) -> None:
        self._entries[key] = (data, state)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
