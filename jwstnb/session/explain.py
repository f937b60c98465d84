"""How the server plans the session's reads: ``explain`` of exactly the read the planner
would give, for tests and tuning."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jwstnb.criteria import Criteria
from jwstnb.errors import invalid
from jwstnb.session.planners import Read
from jwstnb.session.reads import Reads

__all__ = ["Explain"]


class Explain(Reads):
    """Explaining reads (mixed into :class:`~jwstnb.session.Session`)."""

    def explain(self, operation: str = "search", **arguments: Any) -> dict[str, Any]:
        """How the server plans one of the session's reads (for tests and tuning).

        ``operation`` is ``"search"`` (the page of items) or ``"count"``/``"counts"``
        (with :meth:`search`'s arguments), ``"candidates"`` (a position search's first read:
        the cone's or region's candidates, which the session tests exactly), ``"targets"``
        (:meth:`search_targets`'s one candidates read: ``targets=``, ``radius=`` and
        criteria), ``"lineage"``
        (``observation_base_id=``), ``"observations"`` or ``"statistics"``. Returns
        ``{"stages": [...], "indexes": [...], "expected_index": name, "hinted": bool,
        "explain": raw, "pipeline": [...]}``;
        ``stages`` names the winning plan's stages (``IXSCAN``, ``FETCH``, ``COLLSCAN``...).
        """
        planner = self.planner
        if operation == "candidates":
            read = planner.candidates(Criteria.model_validate(arguments), self._scope)
        elif operation in ("search", "count", "counts"):
            criteria = Criteria.model_validate(arguments)
            test = self._sky_test(criteria)
            if operation == "search":
                read = planner.page_read(criteria, self._scope, test)
            elif operation == "count":
                read = planner.count(criteria, self._scope, test)
            else:
                read = planner.counts(criteria, self._scope, test)
        elif operation == "targets":
            arguments = dict(arguments)
            targets = arguments.pop("targets", None)
            from jwstnb.sky import parse_radius

            radius = parse_radius(arguments.pop("radius", 0.0))
            cones = [(ra, dec, radius) for ra, dec in self._target_list(targets)]
            arguments.pop("intersect", None)
            read = planner.target_candidates(
                Criteria.model_validate(arguments), self._scope, cones)[0]
        elif operation == "lineage":
            read = planner.lineage(arguments["observation_base_id"], self._scope)
        elif operation == "statistics":
            read = planner.statistics(self._scope)
        elif operation == "observations":
            return self._explain_distinct()
        else:
            raise invalid(
                "operation",
                "operation is search, count, counts, candidates, targets, lineage, "
                "observations or statistics",
                operation,
            )
        return self._explain_read(read)

    def explain_search(self, **criteria: Any) -> dict[str, Any]:
        """:meth:`explain` of :meth:`search` with these arguments."""
        return self.explain("search", **criteria)

    def _explain_read(self, read: Read) -> dict[str, Any]:
        command: dict[str, Any] = {
            "aggregate": self.collection_name,
            "pipeline": read.pipeline,
            "cursor": {},
        }
        if read.hint is not None:
            command["hint"] = dict(read.hint)
        return self._explain_command(
            command, read.expected_index, read.hint is not None, read.pipeline
        )

    def _explain_distinct(self) -> dict[str, Any]:
        command = {"distinct": self.collection_name, "key": "observationBaseId",
                   "query": {"observationBaseId": {"$gt": ""}}}
        return self._explain_command(command, "observationBaseId_1", False, [])

    def _explain_command(
        self, command: dict[str, Any], expected: str, hinted: bool, pipeline: list[Any]
    ) -> dict[str, Any]:
        with self._errors():
            raw = self._conn.client[self.database_name].command(
                "explain", command, verbosity="queryPlanner"
            )
        stages: list[str] = []
        indexes: list[str] = []
        _walk_plans(raw, stages, indexes, inside=False)
        return {
            "stages": list(dict.fromkeys(stages)),
            "indexes": list(dict.fromkeys(indexes)),
            "expected_index": expected,
            "hinted": hinted,
            "explain": raw,
            "pipeline": pipeline,
        }


def _walk_plans(node: Any, stages: list[str], indexes: list[str], inside: bool) -> None:
    """Collect plan stage names and index names from the winning plans of an explain."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key in ("rejectedPlans", "slotBasedPlan"):
                continue
            now_inside = inside or key in ("winningPlan", "queryPlan")
            if now_inside and key == "stage" and isinstance(value, str):
                stages.append(value)
            if now_inside and key == "indexName" and isinstance(value, str):
                indexes.append(value)
            _walk_plans(value, stages, indexes, now_inside)
    elif isinstance(node, list):
        for item in node:
            _walk_plans(item, stages, indexes, inside)


