"""The seam between the session and a database engine: a read planner.

Given criteria and an access scope, a planner returns the complete reads of a search (the
page, its counts, a cone's candidates and what the exact sky test decides, lineage and
statistics), each a :class:`Read`: the pipeline, the index hint to send (or None), and the
index the read is built to use. The session runs what it is given and tells the planner what
came back (:meth:`Planner.learn`); whatever a planner learns from traffic lives on it.
A planner also declares its engine's index set (:attr:`Planner.indexes`). Pure: no I/O.

Adding an engine is one module with a subclass and its tests (CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from jwstnb.access import Scope
from jwstnb.criteria import Criteria
from jwstnb.session.planners.indexes import INDEXES, IndexSpec
from jwstnb.session.planners.pipelines import (
    SearchPlan,
    SkyTest,
    count_pipeline,
    counts_pipeline,
    lineage_pipeline,
    neighbours_pipelines,
    page_hint,
    page_pipeline,
    sky_candidates_pipeline,
    statistics_pipeline,
    targets_candidates_pipeline,
)

__all__ = ["Planner", "Read"]


@dataclass(frozen=True)
class Read:
    """One aggregate for the session to run.

    ``hint`` is the index key pattern to send (None: the server plans); ``final`` is False for
    an attempt the session keeps only when it holds a full page (a window of recent uploads),
    True for a read whose answer is the answer; ``teaches`` marks a read whose answer the
    planner wants to see (:meth:`Planner.learn`).
    """

    pipeline: list[dict[str, Any]]
    plan: SearchPlan
    hint: Mapping[str, int | str] | None = None
    final: bool = True
    teaches: bool = False

    @property
    def expected_index(self) -> str:
        """The name of the index this read is built to use (the hinted one when hinted)."""
        if self.hint is not None:
            return "_".join(f"{k}_{v}" for k, v in self.hint.items())
        return self.plan.index.name


class Planner:
    """A read planner for one database engine (see the module docstring).

    The defaults plan for an engine that takes MongoDB's query language and plans any
    predicate with an index (a real MongoDB): each subclass overrides what its engine needs.
    """

    #: The engine's name, as :func:`jwstnb.session.planners.planner_for` picks it.
    name: ClassVar[str] = ""

    @classmethod
    def speaks(cls, build_info: Mapping[str, Any]) -> bool:
        """Whether this planner is for the server whose ``buildInfo`` this is."""
        return False

    def __init__(self) -> None:
        # Cleared when the server refuses a hint (an index is missing: a read-only user
        # could not build it); later reads then let the server plan.
        self.hints_work = True

    # --- what the engine keeps ------------------------------------------------------------------

    @property
    def indexes(self) -> tuple[IndexSpec, ...]:
        """The indexes this engine's collection keeps: exactly what its plans use."""
        return INDEXES

    # --- hints ----------------------------------------------------------------------------------

    def hinted(self, plan: SearchPlan) -> bool:
        """Whether reads of ``plan`` carry an index hint on this engine."""
        return True

    def _read(
        self,
        pipeline: list[dict[str, Any]],
        plan: SearchPlan,
        hint: Mapping[str, int | str] | None = None,
        *,
        final: bool = True,
        teaches: bool = False,
    ) -> Read:
        send = dict(hint or plan.hint) if self.hints_work and self.hinted(plan) else None
        return Read(pipeline, plan, send, final=final, teaches=teaches)

    def hint_refused(self) -> None:
        """The server refused a hint (its index is missing): stop sending hints."""
        self.hints_work = False

    # --- the reads of a search ------------------------------------------------------------------

    def candidates(self, criteria: Criteria, scope: Scope) -> Read:
        """A cone's candidates (ids, centres, footprints) that meet every other criterion;
        the session tests each exactly and hands the result to :meth:`sky_test`."""
        pipeline, plan = sky_candidates_pipeline(criteria, scope)
        return self._read(pipeline, plan)

    def target_candidates(
        self, criteria: Criteria, scope: Scope, cones: Sequence[tuple[float, float, float]]
    ) -> list[Read]:
        """The reads of the candidates of a whole target list (``cones``: (ra, dec, radius)
        degrees) meeting every other criterion, one plan for all targets: here one read, a
        GeoJSON MultiPolygon of the cones on the ``2dsphere`` index."""
        pipeline, plan = targets_candidates_pipeline(criteria, scope, cones)
        return [self._read(pipeline, plan)]

    def sky_test(self, inside: Sequence[Any], outside: Sequence[Any]) -> SkyTest:
        """How the page and counts use the exact test: leave the candidates outside out."""
        return SkyTest(outside=tuple(outside))

    def page_read(self, criteria: Criteria, scope: Scope, sky: SkyTest | None) -> Read:
        """The read of one page of items, unbounded (what :meth:`page` ends with)."""
        pipeline, plan = page_pipeline(criteria, scope, sky=sky)
        return self._read(pipeline, plan, page_hint(criteria, scope, plan))

    def page(self, criteria: Criteria, scope: Scope, sky: SkyTest | None) -> Iterator[Read]:
        """The reads of a page, in order: the session keeps the first that holds a full page
        (or the last). One read on an engine that stops at a limit."""
        yield self.page_read(criteria, scope, sky)

    def counts(self, criteria: Criteria, scope: Scope, sky: SkyTest | None) -> Read:
        """Total and facet counts of a search."""
        pipeline, plan = counts_pipeline(criteria, scope, sky=sky)
        return self._read(pipeline, plan)

    def count(self, criteria: Criteria, scope: Scope, sky: SkyTest | None) -> Read:
        """The total of a search alone."""
        pipeline, plan = count_pipeline(criteria, scope, sky=sky)
        return self._read(pipeline, plan)

    def lineage(self, observation_base_id: str, scope: Scope) -> Read:
        """Every readable record of one group."""
        pipeline, plan = lineage_pipeline(observation_base_id, scope)
        return self._read(pipeline, plan)

    def neighbours(self, ids: Sequence[str], parents: Sequence[str], scope: Scope) -> list[Read]:
        """Records of other groups directly linked to a group's files."""
        return [self._read(p, plan) for p, plan in neighbours_pipelines(ids, parents, scope)]

    def statistics(self, scope: Scope) -> Read:
        """Counts and sizes over everything the scope may read."""
        pipeline, plan = statistics_pipeline(scope)
        return self._read(pipeline, plan)

    # --- learning from traffic ------------------------------------------------------------------

    @property
    def wants_newest_upload(self) -> bool:
        """Whether the session should tell :meth:`start_from` the newest upload writers noted
        before this planner's next page (no by default)."""
        return False

    def start_from(self, newest_upload: datetime | None) -> None:
        """The newest upload writers noted (None: none was), asked for by
        :attr:`wants_newest_upload`; nothing to do by default."""

    def learn(self, criteria: Criteria, read: Read, docs: Sequence[Mapping[str, Any]]) -> None:
        """See what a read marked ``teaches`` returned (nothing to learn by default)."""

    def __repr__(self) -> str:
        return f"<jwstnb read planner {self.name!r}>"
