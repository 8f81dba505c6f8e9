"""The outbox's states, the moves between them, and what a delivery attempt can come to.

Delivery is at most once: a row is "sending" (committed) before its request goes out, so a
row whose send a crash interrupted is never sent again; it becomes "unsure" and staff are
told. Every change of `OutboxMessage.state` goes through db/outbox.py, which checks it
against MOVES; tests/test_delivery_states.py walks every allowed and every forbidden move.
"""
from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"  # to send when due (next_attempt_at)
    SENDING = "sending"  # its request is under way (or a process died during it)
    SENT = "sent"
    HELD = "held"  # waits for the recipient's next message (WeChat's 48 hours), holding up nothing
    FAILED = "failed"  # refused by the platform, or given up after too many attempts
    UNSURE = "unsure"  # a process stopped while sending it: maybe delivered, never sent again
    CANCELLED = "cancelled"  # taken back before it went out (last_error says why: a CancelReason)


class CancelReason(StrEnum):
    WITHDRAWN = "withdrawn"  # the event a notice announced was withdrawn
    FORGOTTEN = "forgotten"  # the resident asked to be forgotten (/forgetme)
    STOPPED = "stopped"  # the resident unsubscribed before the notice went out
    EXPIRED = "expired"  # held till its WeChat resident wrote, and the event was over by then


class Outcome(StrEnum):
    """What one delivery attempt came to (bot/delivery.py's worker)."""

    SENT = "sent"
    RETRY = "retry"  # pending again, due later
    FAILED = "failed"  # refused, or given up
    HELD = "held"
    GONE = "gone"  # no longer pending when its turn came (cancelled meanwhile, or sent by another worker)
    TAKEN = "taken"  # another worker holds it
    UNRECORDED = "unrecorded"  # the database would not take the outcome: written again at the next rounds


MOVES: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.SENDING, State.PENDING, State.CANCELLED}),  # pending -> pending: held till morning
    State.SENDING: frozenset({State.SENT, State.PENDING, State.FAILED, State.HELD, State.UNSURE}),
    State.HELD: frozenset({State.PENDING, State.CANCELLED}),  # the recipient wrote; or taken back
    # a late outcome of a row another worker settled as unsure: what happened is known after all
    State.UNSURE: frozenset({State.SENT, State.FAILED}),
    State.SENT: frozenset(),
    State.FAILED: frozenset(),
    State.CANCELLED: frozenset(),
}

OPEN = (State.PENDING, State.SENDING)  # a message being sent holds its chat: what comes after it waits
FINAL = tuple(state for state, moves in MOVES.items() if not moves)


class ForbiddenMove(ValueError):
    pass


def allowed(source: str, target: str) -> bool:
    return State(target) in MOVES[State(source)]


def sources(target: State) -> tuple[State, ...]:
    """The states a row may be in to move to `target` (for the bulk UPDATEs' WHERE)."""
    return tuple(state for state, moves in MOVES.items() if target in moves)


def check(source: str, target: State) -> State:
    if not allowed(source, target):
        raise ForbiddenMove(f"an outbox message cannot go from {source} to {target}")
    return target
