"""The read planner for SecantusDB, the embedded MongoDB wire-protocol server.

What this engine does differently, measured (docs/scale.md), and how its plans answer it:

- It answers in time proportional to the entries its index lookup yields and does not stop
  early at a limit, and it walks a hinted index whole: reads carry a hint only when no
  predicate is indexable.
- A page of a search sorted newest upload first reads windows of recent uploads first
  (bounded index ranges on ``uploadDate``), each kept only when it holds a full page (then it
  is exactly the unbounded page), widening until one does or a window would hold more
  records than a budget; then the lead's own index. The budget comes from the upload rate
  this planner learns from full first pages of broad views.
- Its ``2dsphere`` lookups return a whole cube face of the sky, so a cone's candidates come
  from the ``skyCells`` (HEALPix) index, and the ids the exact test found inside lead the page
  and counts (``_id $in``) up to a limit.
- Every index costs every write (measured: 43 indexes halve the insert rate of 21), and it
  never uses the scope + sort-key indexes a real MongoDB walks for sorted pages, nor the
  ``2dsphere`` index (``$geoIntersects`` only checks the candidates the cells found): its
  index set is the single-field leads (:data:`SECANTUS_INDEXES`).
- Its ``$in`` over a multikey index costs more than linearly in the list's length: a target
  list's cells are looked up in batches of :data:`CELL_BATCH`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from jwstnb.access import Scope
from jwstnb.criteria import Criteria
from jwstnb.session.planners.base import Planner, Read
from jwstnb.session.planners.indexes import INDEXES, IndexSpec
from jwstnb.session.planners.pipelines import (
    SearchPlan,
    SkyTest,
    page_pipeline,
    sky_candidates_pipeline,
    target_cells,
    targets_candidates_pipeline,
    windowed,
)

__all__ = ["SECANTUS_INDEXES", "SecantusPlanner"]

# Window widths (seconds) of recent uploads a broad page reads, smallest first.
WINDOWS = (1.0, 8.0, 64.0, 512.0, 4096.0, 32768.0, 262144.0, 2097152.0, 16777216.0)
# A selective lead (a word, a tag, a target) may still match much of an archive: its page
# first reads windows of recent uploads while they hold about this many records (estimated
# from the learned upload rate), then its own index.
WINDOW_RECORDS = 500
# Broad leads (the scope, a data type, a short word) read windows up to this many records,
# then their own index: a broad lead whose other clauses match little of the recent uploads
# would otherwise widen its windows over the whole collection first.
BROAD_WINDOW_RECORDS = 5000
# A cone's matches lead its page and counts by id up to this many (a few MB of ids in one
# command); beyond, its cells lead again, the exact test's misses left out.
ID_LEAD_LIMIT = 200_000
# Its `$in` lookups on a multikey index cost more than linearly in the list's length
# (measured, 3,000 records: 676 cells at once 2.6 s, in batches of 50 0.16 s in all; 10,000
# records, 733 cells: batches of 8 252 ms, 16 192 ms, 32 217 ms, 64 322 ms), so a target
# list's cells go in batches of this many.
CELL_BATCH = 16
# Cells coarser than the finest order file only footprints too large for finer cells (few
# records): their lookups answer little, so they go in batches of this many.
COARSE_CELL_BATCH = 256


#: The indexes SecantusDB keeps: what its plans lead with, the owner + storage key unique
#: index (idempotent ingest) and the storage key (scans); no sort or ``2dsphere`` index.
SECANTUS_INDEXES: tuple[IndexSpec, ...] = tuple(
    spec for spec in INDEXES
    if (len(spec.keys) == 1 and spec.keys[0][1] != "2dsphere") or spec.options.get("unique")
)


class SecantusPlanner(Planner):
    """Plans for SecantusDB (see the module docstring); learns the upload rate."""

    name = "secantus"

    @classmethod
    def speaks(cls, build_info: Mapping[str, Any]) -> bool:
        return "secantusVersion" in build_info

    def __init__(self) -> None:
        super().__init__()
        # Where windows of recent uploads start: the oldest upload of the newest full first
        # page a broad search has shown (windows are open towards the future).
        self.newest_upload: datetime | None = None
        # Uploads per second around that point (from the same page); None until seen.
        self.upload_rate: float | None = None
        # Whether the session told it the newest upload writers noted (a fresh planner's
        # windows then reach back from there, not from now: no learning phase).
        self._told = False

    @property
    def indexes(self) -> tuple[IndexSpec, ...]:
        return SECANTUS_INDEXES

    def hinted(self, plan: SearchPlan) -> bool:
        return plan.hint_required

    def candidates(self, criteria: Criteria, scope: Scope) -> Read:
        pipeline, plan = sky_candidates_pipeline(criteria, scope, sky_cells=True)
        return self._read(pipeline, plan)

    def target_candidates(
        self, criteria: Criteria, scope: Scope, cones: Sequence[tuple[float, float, float]]
    ) -> list[Read]:
        """A target list's candidates from the cells of all its cones, in batches of
        CELL_BATCH cells at the finest order and COARSE_CELL_BATCH coarser (the same plan
        each: ``skyCells`` IXSCAN)."""
        from jwstnb.sky import CELL_ORDER

        cells = target_cells(cones)
        finest = 4 * 4**CELL_ORDER
        # Cells coarser than the finest hold only large footprints (few): bigger batches.
        busy = [c for c in cells if c < 0 or c >= finest]
        quiet = [c for c in cells if 0 <= c < finest]
        reads = []
        for group, size in ((busy, CELL_BATCH), (quiet, COARSE_CELL_BATCH)):
            for start in range(0, len(group), size):
                pipeline, plan = targets_candidates_pipeline(
                    criteria, scope, cones, cells=group[start:start + size])
                reads.append(self._read(pipeline, plan))
        return reads

    def sky_test(self, inside: Sequence[Any], outside: Sequence[Any]) -> SkyTest:
        if len(inside) <= ID_LEAD_LIMIT:
            return SkyTest(matches=tuple(inside), outside=tuple(outside))
        return SkyTest(outside=tuple(outside), cells=True)

    def page_read(self, criteria: Criteria, scope: Scope, sky: SkyTest | None) -> Read:
        """The unbounded page: a read with no indexable predicate walks the upload-date
        index (this engine walks a hinted index whole and sorts after, whichever it is, so a
        sort-key index would cost every write and save nothing)."""
        pipeline, plan = page_pipeline(criteria, scope, sky=sky)
        return self._read(pipeline, plan)

    def page(self, criteria: Criteria, scope: Scope, sky: SkyTest | None) -> Iterator[Read]:
        final = self.page_read(criteria, scope, sky)
        learns = windowed(criteria) and final.plan.broad and criteria.page == 1
        if windowed(criteria) and criteria.sky_query is None:  # a sky search reads its cells
            budget: int | None = WINDOW_RECORDS
            if final.plan.broad:  # unbounded until the upload rate is known
                budget = BROAD_WINDOW_RECORDS if self.upload_rate else None
            yield from self._windows(criteria, scope, sky, budget, learns)
        yield Read(final.pipeline, final.plan, final.hint, teaches=learns)

    def _windows(
        self,
        criteria: Criteria,
        scope: Scope,
        sky: SkyTest | None,
        budget: int | None,
        learns: bool,
    ) -> Iterator[Read]:
        """Windows of recent uploads reaching back from a known dense point (or now), open
        towards the future, none wider than ``budget`` records by the learned rate."""
        from jwstnb.schema import utc_now

        anchor = self.newest_upload or utc_now()
        wanted = criteria.page * criteria.page_size
        for seconds in WINDOWS:
            rate = self.upload_rate
            if budget is not None and (rate is None or seconds * rate > budget):
                return
            if rate is not None and seconds * rate < wanted and seconds < WINDOWS[-1]:
                continue  # too few uploads in it to hold the page
            pipeline, plan = page_pipeline(
                criteria, scope, since=anchor - timedelta(seconds=seconds), sky=sky
            )
            yield self._read(pipeline, plan, final=False, teaches=learns)

    @property
    def wants_newest_upload(self) -> bool:
        return self.newest_upload is None and not self._told

    def start_from(self, newest_upload: datetime | None) -> None:
        """Windows reach back from the newest upload (they stay open towards the future, so
        later uploads are still read)."""
        self._told = True
        if newest_upload is not None and self.newest_upload is None:
            self.newest_upload = newest_upload

    def learn(self, criteria: Criteria, read: Read, docs: Sequence[Mapping[str, Any]]) -> None:
        """Later windows start at the oldest upload of a full broad first page (a dense part
        of the collection, even when a few records are far newer than the rest); the page's
        span gives an upload rate (the highest seen: a sparse search's page spans more time
        than the uploads took, and a low rate would let windows grow past their budget)."""
        if len(docs) != criteria.page_size or not docs:
            return
        newest, oldest = docs[0].get("uploadDate"), docs[-1].get("uploadDate")
        if not (isinstance(newest, datetime) and isinstance(oldest, datetime)):
            return
        rate = (len(docs) - 1) / max((newest - oldest).total_seconds(), 1e-3)
        self.upload_rate = max(rate, self.upload_rate or 0.0)
        if self.newest_upload is None or oldest > self.newest_upload:
            self.newest_upload = oldest
