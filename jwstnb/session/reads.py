"""The reads of a session: get, search (page, counts, total), table, lineage, observations
and statistics. Each runs the reads its planner gives (:mod:`jwstnb.session.planners`) and
nothing else; a position search is made exact here, on great circles, between the cone's
candidates and the page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jwstnb.criteria import FACETS, Criteria
from jwstnb.errors import NotFound
from jwstnb.schema import JwstDataModel
from jwstnb.session._base import HIDDEN, SessionBase, model, object_id
from jwstnb.session.planners.pipelines import SkyTest, facet_counts
from jwstnb.session.results import Counts, Page, records_table

if TYPE_CHECKING:
    from astropy.table import Table
    from mocpy import MOC

    from jwstnb.lineage import Lineage

__all__ = ["Reads"]


class Reads(SessionBase):
    """Reading records (mixed into :class:`~jwstnb.session.Session`)."""

    def get(self, record_id: str | ObjectId) -> JwstDataModel:
        """The record with this id; :class:`NotFound` if it does not exist or is not readable."""
        oid = object_id(record_id)
        with self._errors():
            doc = self._coll.find_one({"_id": oid, **self._scope.read_filter()}, HIDDEN)
        if doc is None:
            raise self._not_found(oid)
        return model(doc)

    def search(
        self,
        text: str | None = None,
        data_type: Any = None,
        processing_level: Any = None,
        instrument: Any = None,
        filter: Any = None,
        target_name: Any = None,
        status: Any = None,
        tags: Any = None,
        date_from: Any = None,
        date_to: Any = None,
        observed_from: Any = None,
        observed_to: Any = None,
        program: Any = None,
        proposal_pi: Any = None,
        position: Any = None,
        radius: Any = 0.0,
        is_public: bool | None = None,
        include_archived: bool = False,
        observation_base_id: str | None = None,
        cal_ver: Any = None,
        crds_context: Any = None,
        made_before_context: Any = None,
        page: int = 1,
        page_size: int = 20,
        sort: str = "uploadDate",
        descending: bool = True,
    ) -> Page:
        """One page of readable records, the total and the facets (:class:`Page`).

        ``text`` matches word prefixes (all words must match) in names, target, ids, tags and
        description; the other arguments take one value or a list (any of them); ``tags``
        must all be present; ``date_from``/``date_to`` bound ``uploadDate`` and
        ``observed_from``/``observed_to`` the observation date. ``position`` (a SkyCoord,
        an (ra, dec) pair in degrees or a string astropy parses) with ``radius`` (degrees or
        an astropy angle; 0: files that cover the position) finds records whose footprint
        overlaps the cone, or whose centre lies in it. ``cal_ver`` (pipeline versions),
        ``crds_context`` (CRDS contexts, "jwst_1200.pmap" or 1200) and
        ``made_before_context`` (files calibrated with an older context: what needs
        reprocessing) ask for calibration provenance. Archived records are left out unless
        ``include_archived``. Bad input is a ``ValidationError``. The page comes from an
        index-sorted query; total and facets from a second one (see :meth:`items`,
        :meth:`counts`).
        """
        criteria = Criteria.model_validate(dict(
            text=text, data_type=data_type, processing_level=processing_level,
            instrument=instrument, filter=filter, target_name=target_name, status=status,
            tags=tags, date_from=date_from, date_to=date_to, observed_from=observed_from,
            observed_to=observed_to, program=program, proposal_pi=proposal_pi,
            position=position, radius=radius, is_public=is_public,
            include_archived=include_archived, observation_base_id=observation_base_id,
            cal_ver=cal_ver, crds_context=crds_context, made_before_context=made_before_context,
            page=page, page_size=page_size, sort=sort, descending=descending,
        ))
        sky = self._sky_test(criteria)
        skipped: list[str] = []
        items = self._items(criteria, sky, skipped)
        counts = self._counts(criteria, sky, None)
        return Page(
            items=items,
            total=counts.total,
            page=criteria.page,
            page_size=criteria.page_size,
            pages=math.ceil(counts.total / criteria.page_size),
            facets=counts.facets,
            skipped=skipped,
        )

    def items(self, **criteria: Any) -> list[JwstDataModel]:
        """Only the page of items of :meth:`search` (same arguments): fast, no counting."""
        valid = Criteria.model_validate(criteria)
        return self._items(valid, self._sky_test(valid), [])

    def counts(self, *, max_time_ms: int | None = None, **criteria: Any) -> Counts:
        """Total and facet counts of :meth:`search` (same arguments), without the items.

        ``max_time_ms`` lets the server stop a count a newer search made stale
        (:class:`jwstnb.errors.QueryTimeout`).
        """
        valid = Criteria.model_validate(criteria)
        return self._counts(valid, self._sky_test(valid), max_time_ms)

    def count(self, **criteria: Any) -> int:
        """How many readable records match (same arguments and rules as :meth:`search`)."""
        valid = Criteria.model_validate(criteria)
        rows = self._run(self.planner.count(valid, self._scope, self._sky_test(valid)))
        return int(rows[0]["n"]) if rows else 0

    def table(
        self,
        limit: int | None = None,
        batch: int = 500,
        *,
        schema: str = "default",
        access_url: Any = None,
        **criteria: Any,
    ) -> Table:
        """Every matching record (or the first ``limit``) as one astropy Table, read in pages.

        ``schema="obscore"``: ObsCore 1.1 columns first (:mod:`jwstnb.interop.obscore`;
        ``access_url`` a Storage or a function record -> URL), then jwstnb's own.
        """
        return records_table(
            self._every(criteria, limit, batch), schema=schema, access_url=access_url
        )

    def coverage(self, max_order: int = 10, **criteria: Any) -> MOC:
        """A MOC (``mocpy.MOC``, IVOA MOC 2.0) of the footprints (else centres) of every
        readable matching record, at ``max_order`` (10: cells of about 3.4 arcmin)."""
        from jwstnb.interop.moc import coverage

        return coverage(self._every(criteria, None, 500), max_order)

    def _every(
        self, criteria: dict[str, Any], limit: int | None, batch: int
    ) -> list[JwstDataModel]:
        """Every matching readable record (or the first ``limit``), read a page at a time."""
        valid = Criteria.model_validate({**criteria, "page": 1, "page_size": batch})
        records: list[JwstDataModel] = []
        sky = self._sky_test(valid)
        page = 1
        while limit is None or len(records) < limit:
            chunk = self._items(valid.with_page(page=page), sky, [])
            records.extend(chunk)
            if len(chunk) < batch:
                break
            page += 1
        return records[:limit] if limit is not None else records

    def _items(
        self, criteria: Criteria, sky: SkyTest | None, skipped: list[str]
    ) -> list[JwstDataModel]:
        """A page of items: the planner's reads in order, the first holding a full page (or
        the last) is the page."""
        planner = self.planner
        docs: list[dict[str, Any]] = []
        for read in planner.page(criteria, self._scope, sky):
            docs = self._run(read)
            if read.final or len(docs) >= criteria.page_size:
                if read.teaches:
                    planner.learn(criteria, read, docs)
                break
        return self._models(docs, skipped)

    def _counts(
        self, criteria: Criteria, sky: SkyTest | None, max_time_ms: int | None
    ) -> Counts:
        rows = self._run(self.planner.counts(criteria, self._scope, sky), max_time_ms=max_time_ms)
        result = rows[0] if rows else {}
        total = int(result["total"][0]["n"]) if result.get("total") else 0
        return Counts(total, {name: facet_counts(result.get(name, [])) for name in FACETS})

    def _sky_test(self, criteria: Criteria) -> SkyTest | None:
        """The cone's candidates (meeting every other criterion) tested exactly on great
        circles (:func:`jwstnb.sky.matches_cone`); the planner says how the page and counts
        use what the test found. None without a position."""
        if criteria.position is None:
            return None
        from jwstnb import sky

        ra, dec = criteria.position
        inside: list[Any] = []
        outside: list[Any] = []
        for doc in self._run(self.planner.candidates(criteria, self._scope)):
            footprint, centre = sky.record_shape(doc.get("imageInfo"))
            found = sky.matches_cone(footprint, centre, ra, dec, criteria.radius)
            (inside if found else outside).append(doc["_id"])
        return self.planner.sky_test(inside, outside)

    def target_position(self, name: str) -> tuple[float, float] | None:
        """A readable record's (ra, dec) for target ``name`` (any case/spacing), else None.

        What :func:`jwstnb.sky.resolve` asks first, so known targets resolve offline.
        """
        from jwstnb.criteria import tokenize

        words = tokenize(name)
        if not words or len(words) > 8:
            return None
        joined = "".join(words)
        criteria = Criteria.model_validate(
            {"text": joined if len(words) > 1 else words[0], "include_archived": True,
             "page_size": 50}
        )
        for record in self._items(criteria, None, []):
            info = record.image_info
            target = (info.target_name if info else None) or ""
            if info and info.ra is not None and info.dec is not None and (
                "".join(tokenize(target)).startswith(joined)
            ):
                return float(info.ra), float(info.dec)
        return None

    def lineage(self, observation_base_id: str) -> Lineage:
        """The readable files of one observation as a :class:`~jwstnb.lineage.Lineage` tree.

        Files of other groups directly linked to this one (the exposures a candidate mosaic
        combines, the mosaics an observation's files feed) come too, marked external.
        """
        from jwstnb.lineage import build_lineage

        docs = self._run(self.planner.lineage(observation_base_id, self._scope))
        if not docs:
            raise NotFound(
                f"no readable records of observation {observation_base_id!r}; "
                "see session.observations() for the ones there are"
            )
        ids = [str(d["_id"]) for d in docs]
        parents = sorted({p for d in docs for p in (d.get("derivedFrom") or ())} - set(ids))
        seen = set(ids)
        for read in self.planner.neighbours(ids, parents, self._scope):
            for doc in self._run(read):
                if str(doc["_id"]) not in seen:
                    seen.add(str(doc["_id"]))
                    docs.append(doc)
        return build_lineage(observation_base_id, self._models(docs, []))

    def observations(self) -> list[str]:
        """Every observation base id with at least one readable record, sorted.

        Read from the observationBaseId index (``distinct``); for a user or anonymous
        session each group is then checked for one readable record (an index lookup each).
        """
        with self._errors():
            groups = sorted(
                g
                for g in self._coll.distinct(
                    "observationBaseId", {"observationBaseId": {"$gt": ""}}
                )
                if isinstance(g, str)
            )
        scope = self._scope.read_filter()
        if not scope:
            return groups
        readable = []
        with self._errors():
            for group in groups:
                if self._coll.find_one({"observationBaseId": group, **scope}, {"_id": 1}):
                    readable.append(group)
        return readable

    def statistics(self) -> dict[str, Any]:
        """Counts over everything this session may read (archived included), one aggregate.

        Keys: total, total_size (bytes), public, archived, observations, first_upload,
        last_upload, data_type, processing_level, status, instrument (value -> count).
        """
        rows = self._run(self.planner.statistics(self._scope))
        result = rows[0] if rows else {}
        totals = (result.get("totals") or [{}])[0]
        observations = result.get("observations") or [{}]
        return {
            "total": int(totals.get("n", 0)),
            "total_size": int(totals.get("size", 0)),
            "public": int(totals.get("public", 0)),
            "archived": int(totals.get("archived", 0)),
            "observations": int(observations[0].get("n", 0)),
            "first_upload": totals.get("first"),
            "last_upload": totals.get("last"),
            **{
                name: facet_counts(result.get(name, []))
                for name in ("data_type", "processing_level", "status", "instrument")
            },
        }


