"""The satellite dashboard (being written; see catalog.py for the contract)."""

from __future__ import annotations

from .catalog import DashboardModel
from .context import MissionContext


def build(context: MissionContext) -> DashboardModel:
    """The dashboard's JSON model for `context`'s mission."""
    raise NotImplementedError("satellite dashboard")
