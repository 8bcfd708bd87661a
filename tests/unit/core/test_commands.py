"""The command-state vocabulary: one set of states, the acks a subset, the order of a life."""

from __future__ import annotations

from utils.doctests import run_doctests

from mpcs.core import commands
from mpcs.core.commands import STATE_RANK, TERMINAL_STATES, AckState, CommandState


def test_doctests() -> None:
    run_doctests(commands)


def test_every_ack_state_is_a_command_state_and_only_sent_is_not_acked() -> None:
    assert {CommandState(a.value) for a in AckState} == set(CommandState) - {CommandState.SENT}


def test_a_life_orders_sent_then_accepted_then_an_end() -> None:
    assert set(STATE_RANK) == set(CommandState)
    assert STATE_RANK[CommandState.SENT] < STATE_RANK[CommandState.ACCEPTED]
    assert all(STATE_RANK[CommandState.ACCEPTED] < STATE_RANK[s] for s in TERMINAL_STATES)
    assert CommandState.SENT not in TERMINAL_STATES
    assert CommandState.ACCEPTED not in TERMINAL_STATES
    # Plain strings (an audit row, a query parameter) find their state too.
    assert STATE_RANK["executed"] == STATE_RANK[CommandState.EXECUTED]
