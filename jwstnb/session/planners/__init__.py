"""One read planner per database engine (DESIGN §1, §9): criteria + scope -> the complete
reads of a search, and the engine's index set. The only place that knows engines apart.

:func:`planner_for` picks the planner from what the server says about itself
(``buildInfo``); see :mod:`.base` for what a planner answers and CONTRIBUTING.md for adding
an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jwstnb.session.planners.base import Planner, Read
from jwstnb.session.planners.mongodb import MongoDBPlanner
from jwstnb.session.planners.secantus import SecantusPlanner

__all__ = ["PLANNERS", "MongoDBPlanner", "Planner", "Read", "SecantusPlanner", "planner_for"]

#: Every planner, most specific first: the first whose ``speaks`` accepts the server wins.
PLANNERS: tuple[type[Planner], ...] = (SecantusPlanner, MongoDBPlanner)


def planner_for(build_info: Mapping[str, Any]) -> Planner:
    """A new planner for the server whose ``buildInfo`` this is (MongoDB's by default)."""
    for planner in PLANNERS:
        if planner.speaks(build_info):
            return planner()
    return MongoDBPlanner()
