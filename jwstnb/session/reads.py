"""The reads of a session: get, search (page, counts, total), table, lineage, observations
and statistics. Each runs the reads its planner gives (:mod:`jwstnb.session.planners`) and
nothing else; a position search is made exact here, on great circles, between the cone's
candidates and the page."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from jwstnb.criteria import FACETS, Criteria
from jwstnb.errors import NotFound, invalid
from jwstnb.schema import JwstDataModel
from jwstnb.session._base import HIDDEN, SessionBase, model, object_id
from jwstnb.session.planners.pipelines import SkyTest, facet_counts
from jwstnb.session.results import Counts, Page, records_table
from jwstnb.session.summary import newest_upload, summary_counts

if TYPE_CHECKING:
    from astropy.table import Table
    from mocpy import MOC

    from jwstnb.lineage import Lineage

__all__ = ["MAX_TARGETS", "Reads"]

#: Targets one search_targets call takes.
MAX_TARGETS = 10_000


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
        region: Any = None,
        intersect: str = "overlaps",
        exposure_time: Any = None,
        wavelength: Any = None,
        calib_level: Any = None,
        exclude_data_type: Any = None,
        exclude_processing_level: Any = None,
        exclude_instrument: Any = None,
        exclude_filter: Any = None,
        exclude_target_name: Any = None,
        exclude_status: Any = None,
        exclude_program: Any = None,
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
        ``observed_from``/``observed_to`` the observation date (each an astropy ``Time``, a
        datetime or date, ISO text or an MJD). ``position`` (a SkyCoord, an (ra, dec) pair in
        degrees or a string astropy parses) with ``radius`` (degrees or an astropy angle; 0:
        files that cover the position) finds records whose footprint overlaps the cone, or
        whose centre lies in it. ``region`` (STC-S, a ``regions`` sky region or a list of
        vertices) searches a polygon, box or circle instead; ``intersect`` says how a record
        meets the region or cone, as IVOA SIA 2.0's INTERSECT: ``overlaps`` (default),
        ``covers`` (the footprint holds all of it), ``enclosed`` (the footprint lies inside
        it), ``center`` (it holds the record's centre); exact on great circles.
        ``exposure_time`` (seconds) and ``wavelength`` (microns; the band of the record's
        filter or grating overlaps it) are ``(min, max)`` ranges, either end None, numbers or
        astropy quantities; ``calib_level`` takes ObsCore levels (1: L1, 2: L2a/L2b, 3: L3).
        ``exclude_<name>`` leaves out records with any of the given values of ``<name>``
        (data_type, processing_level, instrument, filter, target_name, status, program).
        ``cal_ver`` (pipeline versions), ``crds_context`` (CRDS contexts, "jwst_1200.pmap"
        or 1200) and ``made_before_context`` (files calibrated with an older context:
        what needs reprocessing) ask for calibration provenance.
        Archived records are left out unless
        ``include_archived``. Bad input is a ``ValidationError``. The page comes from an
        index-sorted query; total and facets from a second one (see :meth:`items`,
        :meth:`counts`).
        """
        criteria = Criteria.model_validate(dict(
            text=text, data_type=data_type, processing_level=processing_level,
            instrument=instrument, filter=filter, target_name=target_name, status=status,
            tags=tags, date_from=date_from, date_to=date_to, observed_from=observed_from,
            observed_to=observed_to, program=program, proposal_pi=proposal_pi,
            position=position, radius=radius, region=region, intersect=intersect,
            exposure_time=exposure_time, wavelength=wavelength, calib_level=calib_level,
            exclude_data_type=exclude_data_type,
            exclude_processing_level=exclude_processing_level,
            exclude_instrument=exclude_instrument, exclude_filter=exclude_filter,
            exclude_target_name=exclude_target_name, exclude_status=exclude_status,
            exclude_program=exclude_program, is_public=is_public,
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
        if (summed := self._summed(valid)) is not None:
            return summed[0]
        rows = self._run(self.planner.count(valid, self._scope, self._sky_test(valid)))
        return int(rows[0]["n"]) if rows else 0

    def _summed(self, criteria: Criteria) -> tuple[int, dict[str, dict[str, int]]] | None:
        """A broad view's total and facets from the counts summary (None: count by query, for
        a narrow view or while the summary is not exact)."""
        if not criteria.unfiltered:
            return None
        return summary_counts(
            self._coll, self._scope.readers,
            include_archived=criteria.include_archived, is_public=criteria.is_public,
        )

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
        if planner.wants_newest_upload:
            planner.start_from(newest_upload(self._coll))
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
        if (summed := self._summed(criteria)) is not None:
            total, facets = summed
            return Counts(total, {
                name: facet_counts({"_id": v, "n": n} for v, n in facets[name].items())
                for name in FACETS
            })
        rows = self._run(self.planner.counts(criteria, self._scope, sky), max_time_ms=max_time_ms)
        result = rows[0] if rows else {}
        total = int(result["total"][0]["n"]) if result.get("total") else 0
        return Counts(total, {name: facet_counts(result.get(name, [])) for name in FACETS})

    def _sky_test(self, criteria: Criteria) -> SkyTest | None:
        """The sky query's candidates (its cone's or its region's bounding cap's, meeting
        every other criterion) tested exactly on great circles in its intersect mode
        (:meth:`jwstnb.sky.SkyQuery.matches`); the planner says how the page and counts use
        what the test found. None without a position or region."""
        query = criteria.sky_query
        if query is None:
            return None
        from jwstnb import sky

        inside: list[Any] = []
        outside: list[Any] = []
        for doc in self._run(self.planner.candidates(criteria, self._scope)):
            footprint, centre = sky.record_shape(doc.get("imageInfo"))
            (inside if query.matches(footprint, centre) else outside).append(doc["_id"])
        return self.planner.sky_test(inside, outside)

    def search_targets(
        self,
        targets: Any,
        radius: Any = 0.0,
        *,
        intersect: str = "overlaps",
        **criteria: Any,
    ) -> Table:
        """Every readable record near each of many targets, as ONE astropy Table with a
        ``target_index`` column (the target's row in ``targets``, from 0).

        ``targets``: a SkyCoord (one or an array), an astropy Table with ``ra``/``dec``
        columns (degrees or angles; also ``s_ra``/``s_dec``), a SkyCoord column or a
        ``name``/``target_name``/``target`` column of names, a list of positions or names,
        or text with one target per line. Names resolve first (:func:`jwstnb.sky.resolve`:
        this database's targets, then astropy's resolver). ``radius`` (degrees or an
        astropy angle) and ``intersect`` mean what they mean in :meth:`search`; the other
        keyword arguments are :meth:`search`'s criteria (no position or region).

        One query plan for all targets: one index-led read of the candidates of every cone
        together (on SecantusDB in batches of cells, the same plan each), then an exact test
        per nearby target (vectorised separations first). Each target's rows are what
        ``search(position=target, radius=radius, ...)`` finds (all its pages), newest upload
        first; a record near two targets appears under each.
        """
        if "page" in criteria or "page_size" in criteria:
            raise invalid("page", "search_targets returns every match: no page or page_size")
        valid = Criteria.model_validate(criteria)
        if valid.sky_query is not None:
            raise invalid("position", "search_targets takes the positions from targets: give "
                          "no position or region")
        from jwstnb import sky

        cone_radius = sky.parse_radius(0.0 if radius is None else radius)
        mode = sky.parse_intersect(intersect)
        positions = self._target_list(targets)
        cones = [(ra, dec, cone_radius) for ra, dec in positions]
        docs: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for read in self.planner.target_candidates(valid, self._scope, cones):
            for doc in self._run(read):
                if doc["_id"] not in seen:  # a record in two batches' cells comes once
                    seen.add(doc["_id"])
                    docs.append(doc)
        pairs = _target_matches(docs, cones, mode)
        matched = {doc_id for _, doc_id in pairs}
        records = {r.id: r for r in self._models([d for d in docs if d["_id"] in matched], [])}
        # Newest upload first within a target, ties on the id: a single search's order.
        newest = sorted(records.values(), key=lambda r: (r.upload_date, r.id), reverse=True)
        order = {r.id: k for k, r in enumerate(newest)}
        rows = sorted((t, order[d]) for t, d in pairs if d in records)
        by_order = newest
        table = records_table([by_order[k] for _, k in rows])
        table.add_column([t for t, _ in rows] if rows else [], name="target_index", index=0)
        table["target_index"] = table["target_index"].astype(int)
        table.meta["targets"] = len(positions)
        return table

    def _target_list(self, targets: Any) -> list[tuple[float, float]]:
        """(ra, dec) degrees of each target, in order (names resolved)."""
        from jwstnb import sky

        def one(value: Any) -> tuple[float, float]:
            try:
                return sky.parse_position(value)
            except ValueError as exc:
                if not isinstance(value, str):
                    raise invalid("targets", f"a target is a position or a name "
                                  f"({str(exc).removeprefix('position ')})",
                                  repr(value)[:200]) from None
            coord = sky.resolve(value, self)
            return float(coord.ra.deg), float(coord.dec.deg)

        if isinstance(targets, str):
            items: list[Any] = [line for line in targets.splitlines() if line.strip()]
        elif type(targets).__name__ == "SkyCoord":
            icrs = targets.icrs
            if icrs.isscalar:
                return [sky.parse_position(icrs)]
            if len(icrs) > MAX_TARGETS:
                raise invalid("targets", f"a target list holds at most {MAX_TARGETS} targets",
                              len(icrs))
            # One conversion for the whole array (element by element costs ~0.3 ms each).
            return [sky.parse_position((ra, dec)) for ra, dec in
                    zip(icrs.ra.deg.tolist(), icrs.dec.deg.tolist(), strict=True)]
        elif hasattr(targets, "colnames"):
            items = _table_targets(targets)
        else:
            try:
                items = list(targets)
            except TypeError:
                raise invalid("targets", "targets are a SkyCoord, a Table with ra/dec or names, "
                              "a list of positions or names, or text with one per line",
                              repr(targets)[:200]) from None
        if not items:
            raise invalid("targets", "give at least one target")
        if len(items) > MAX_TARGETS:
            raise invalid("targets", f"a target list holds at most {MAX_TARGETS} targets",
                          len(items))
        return [one(item) for item in items]

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




def _table_targets(table: Any) -> list[Any]:
    """Positions (or names) of a target Table's rows: ra/dec columns, a SkyCoord column, or
    a name column."""
    names = {name.lower(): name for name in table.colnames}
    for ra_name, dec_name in (("ra", "dec"), ("s_ra", "s_dec"), ("raj2000", "dej2000"),
                              ("ra_deg", "dec_deg")):
        if ra_name in names and dec_name in names:
            return list(zip(table[names[ra_name]].quantity if table[names[ra_name]].unit
                            else table[names[ra_name]],
                            table[names[dec_name]].quantity if table[names[dec_name]].unit
                            else table[names[dec_name]], strict=True))
    for name in table.colnames:
        if type(table[name]).__name__ == "SkyCoord":
            return list(table[name].icrs)
    for key in ("name", "target_name", "target", "object", "main_id"):
        if key in names:
            return [str(v) for v in table[names[key]]]
    raise invalid("targets", "a target Table needs ra and dec columns, a SkyCoord column or "
                  "a name column", ", ".join(table.colnames))


def _target_matches(
    docs: list[dict[str, Any]], cones: list[tuple[float, float, float]], intersect: str
) -> list[tuple[int, Any]]:
    """(target index, record id) of every candidate that matches a target's cone exactly.

    Vectorised first: a record is tested against a target only when its bounding cap
    (footprint) or centre lies within the cone's reach."""
    import numpy as np

    from jwstnb import sky

    if not docs:
        return []
    shapes = [sky.record_shape(doc.get("imageInfo")) for doc in docs]
    caps = np.array([fp.bounding_cap if fp is not None else
                     (c[0], c[1], 0.0) if c is not None else (0.0, 0.0, -1.0)
                     for fp, c in shapes], dtype=float)
    cone_arr = np.array(cones, dtype=float)

    def vectors(ra: Any, dec: Any) -> Any:
        ra, dec = np.radians(ra), np.radians(dec)
        return np.column_stack((np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra),
                                np.sin(dec)))

    dots = vectors(caps[:, 0], caps[:, 1]) @ vectors(cone_arr[:, 0], cone_arr[:, 1]).T
    separation = np.degrees(np.arccos(np.clip(dots, -1.0, 1.0)))
    reach = caps[:, 2][:, None] + cone_arr[:, 2][None, :] + 2 * sky.CONE_PAD
    near = (separation <= reach) & (caps[:, 2][:, None] >= 0)
    queries: dict[int, Any] = {}
    out = []
    for i, j in zip(*np.nonzero(near), strict=True):
        query = queries.get(int(j))
        if query is None:
            query = queries[int(j)] = sky.SkyQuery(cone=cones[int(j)], intersect=intersect)
        if query.matches(*shapes[int(i)]):
            out.append((int(j), docs[int(i)]["_id"]))
    return out
