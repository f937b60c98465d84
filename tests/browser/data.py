"""Synthetic records for widget tests and benchmarks: a big lineage group, many search rows.

Real records (JwstDataModel, valid by the schema and stored through the session's own
document mapping), just many of them and generated quickly: one observation of any size
with the L1 -> L2a -> L2b -> L3 edges the lineage rules produce, and a varied collection
for search and facets. Files named here do not exist in storage; widgets must cope (no
thumbnail) and they do.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from jwstnb.schema import ImageMetadata, JwstDataModel

INSTRUMENTS = ("NIRCAM", "MIRI", "NIRSPEC", "NIRISS")
FILTERS = ("F090W", "F150W", "F200W", "F277W", "F444W", "F770W", "F1130W")
TARGETS = ("NGC 3132", "NGC 628", "SMACS 0723", "WR 140", "Carina", "Stephan's Quintet")
LEVELS = (("L1", "raw", "uncal"), ("L2a", "sensor", "rate"), ("L2b", "image", "cal"),
          ("L3", "image", "i2d"))
STATUSES = ("pending", "processing", "completed", "failed")
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def lineage_records(
    observation_base_id: str = "jw09999-o001_t001_nircam",
    exposures: int = 666,
    *,
    instrument: str = "NIRCAM",
    filter: str = "F200W",
    target: str = "Big group",
    public: bool = True,
) -> list[JwstDataModel]:
    """One observation: ``exposures`` chains uncal -> rate -> cal, an i2d derived from every
    cal and a catalog from the i2d (``3 * exposures + 2`` files; 666 exposures = 2,000)."""
    program = observation_base_id[2:7]
    obs = observation_base_id.split("-o", 1)[1][:3] if "-o" in observation_base_id else "001"
    info = ImageMetadata(target_name=target, instrument=instrument, filter=filter)
    out: list[JwstDataModel] = []
    cals: list[str] = []
    for i in range(exposures):
        exposure = f"jw{program}{obs}001_02101_{i + 1:05d}"
        parent: str | None = None
        for level, data_type, suffix in LEVELS[:3]:
            oid = ObjectId()
            name = f"{exposure}_nrca1_{suffix}.fits"
            out.append(JwstDataModel(
                id=oid, file_name=name, file_path=f"synthetic/{observation_base_id}/{name}",
                file_size=1000 + i, data_type=data_type, processing_level=level,
                observation_base_id=observation_base_id, exposure_id=exposure,
                parent_id=parent, is_public=public, image_info=info,
                upload_date=EPOCH + timedelta(minutes=i),
            ))
            parent = str(oid)
        cals.append(parent or "")
    stem = f"{observation_base_id}_clear-{filter.lower()}"
    i2d = ObjectId()
    out.append(JwstDataModel(
        id=i2d, file_name=f"{stem}_i2d.fits", file_path=f"synthetic/{observation_base_id}/i2d.fits",
        data_type="image", processing_level="L3", observation_base_id=observation_base_id,
        derived_from=cals, is_public=public, image_info=info,
    ))
    out.append(JwstDataModel(
        file_name=f"{stem}_cat.ecsv", file_path=f"synthetic/{observation_base_id}/cat.ecsv",
        file_format="ecsv", data_type="metadata", processing_level="L3", is_viewable=False,
        observation_base_id=observation_base_id, parent_id=str(i2d), is_public=public,
        image_info=info,
    ))
    return out


def search_records(count: int, *, seed: int = 7, public: bool = True) -> Iterator[JwstDataModel]:
    """``count`` varied records: 4 levels, 4 instruments, 7 filters, 6 targets, 4 statuses,
    observations of 40 files, upload dates over a year. Deterministic for a seed."""
    rng = random.Random(seed)
    for i in range(count):
        level, data_type, suffix = LEVELS[i % 4]
        instrument = INSTRUMENTS[rng.randrange(len(INSTRUMENTS))]
        program = f"{1000 + i // 400:05d}"
        group = f"jw{program}-o{(i // 40) % 10 + 1:03d}_t001_{instrument.lower()}"
        name = (
            f"{group}_clear-{rng.choice(FILTERS).lower()}_{suffix}.fits" if level == "L3"
            else f"jw{program}001001_02101_{i:05d}_nrca1_{suffix}.fits"
        )
        yield JwstDataModel(
            file_name=name,
            file_path=f"synthetic/{group}/{i}/{name}",
            file_size=rng.randrange(10_000, 200_000_000),
            data_type=data_type,
            processing_level=level,
            processing_status=STATUSES[rng.randrange(4)],
            observation_base_id=group,
            tags=["deep"] if i % 97 == 0 else [],
            is_public=public,
            upload_date=EPOCH + timedelta(minutes=rng.randrange(525_600)),
            image_info=ImageMetadata(
                target_name=TARGETS[rng.randrange(len(TARGETS))],
                instrument=instrument,
                filter=FILTERS[rng.randrange(len(FILTERS))],
            ),
        )


def insert_all(session: Any, records: Sequence[JwstDataModel] | Iterator[JwstDataModel],
               batch: int = 2000) -> int:
    """Store records in batches with the session's own document mapping (derived fields
    included) through the admin session's raw collection; returns how many. Writes around
    the session: the counts summary is recounted after them."""
    collection = session.collection
    done = 0
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(session.document(record))
        if len(chunk) >= batch:
            collection.insert_many(chunk, ordered=False)
            done += len(chunk)
            chunk = []
    if chunk:
        collection.insert_many(chunk, ordered=False)
        done += len(chunk)
    session.recount()
    return done
