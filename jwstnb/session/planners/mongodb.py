"""The read planner for MongoDB (any server that plans MongoDB queries as MongoDB does).

A real MongoDB plans any predicate with an index and stops an index-sorted read at its
limit, so every read is one query with a hint: a page of a broad view walks the scope +
sort-key index (:func:`~jwstnb.session.planners.pipelines.page_hint`), a selective lead uses
its own index; a cone leads with the ``2dsphere`` index and leaves out, by id, the
candidates the exact test found outside. It keeps the whole index catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jwstnb.session.planners.base import Planner

__all__ = ["MongoDBPlanner"]


class MongoDBPlanner(Planner):
    """Plans for MongoDB: the defaults of :class:`~jwstnb.session.planners.base.Planner`."""

    name = "mongodb"

    @classmethod
    def speaks(cls, build_info: Mapping[str, Any]) -> bool:
        return True  # the fallback: any server answering MongoDB's wire protocol
