"""JWST file names -> identity: one parser for every part of jwstnb (pure; no I/O).

Ingest, the session and the widgets all call this one rule, so they never disagree about
a file. :func:`classify` turns a file name into a :class:`FileIdentity` (kind,
processing level, data type, viewability and every id the name carries, including the
observation group key). :func:`group_from_obs_id` and :func:`group_from_key` derive the
group key from a MAST ``obs_id`` or from a ``mast/{obs_id}/file`` storage key.

Grammar (case-insensitive, directories ignored, a trailing ``.gz`` ignored)::

    exposure  jw{P5}{O3}{V3}_{GGSAA}_{EEEEE}[-seg{NNN}]_{detector}[_{o###|c####}]_{suffix}
    guider    jw{P5}{O3}{V3}_gs-{id|acq1|acq2|track|fg}_{m|yyyydddhhmmss}[_{image|stacked}]_{suffix}
    stage 3   jw{P5}-{o###|c####|a####|r####}_{t###|s#########}[-epoch#]_{instr}[_{optics}]_{suffix}
    asn       jw{PPPPP}-{acid}_{timestamp}_{type}_{NNN}_asn.json
    pool      jw{PPPPP}_{timestamp}_pool.csv
    other     anything else: suffix = last ``_`` token of the stem, all ids None

Group keys (``observation_base_id``): full ``jw{P}-{acid}_t{T}_{instrument}``; provisional
``jw{P}-{acid}_{instrument}`` (exposure names use ``acid = o{OOO}``; source-based stage-3
names ``s#########`` too) until :mod:`jwstnb.lineage` finds the full key in the same set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

from jwstnb.schema import DataType, ProcessingLevel

__all__ = [
    "INSTRUMENTS",
    "FileIdentity",
    "GroupKey",
    "Kind",
    "classify",
    "group_from_key",
    "group_from_obs_id",
    "instrument_of_detector",
    "parse_group_key",
    "product_group",
]

Kind = Literal["exposure", "stage3", "association", "pool", "other"]

INSTRUMENTS = ("fgs", "miri", "nircam", "niriss", "nirspec")

# Product suffixes -------------------------------------------------------------------------
# Stage 1 (raw ramps) and the count-rate products that end it.
_L1 = frozenset({"uncal"})
_L2A = frozenset({"rate", "rateints"})
# Suffixes only ever written on exposure names (stage 2, or stage 3 per-exposure outputs).
_EXPOSURE_ONLY = frozenset(
    {"cal", "calints", "crf", "crfints", "bsub", "bsubints", "psfalign", "psfsub"}
)
# Suffixes typical of combined (stage-3) products; on an exposure name they are L2b.
_COMBINED = frozenset(
    {
        "i2d", "s2d", "s3d", "x1d", "x1dints", "c1d", "cat", "segm", "phot", "whtlt",
        "psfstack", "median", "wfscmb", "ami-oi", "amimulti-oi", "aminorm-oi",
    }
)
_PRODUCTS = _L1 | _L2A | _EXPOSURE_ONLY | _COMBINED
_TABLE_FORMATS = frozenset({"csv", "ecsv", "json"})
_SPECTRAL = frozenset({"s2d", "s3d", "x1d", "x1dints", "c1d"})
_METADATA = frozenset({"cat", "asn", "pool", "phot"})
_NOT_VIEWABLE = frozenset({"x1d", "x1dints", "c1d"})  # plus every metadata file

_FORMATS = {
    "fits": "fits", "fit": "fits", "fts": "fits", "ecsv": "ecsv", "csv": "csv",
    "json": "json", "png": "png", "jpg": "jpg", "jpeg": "jpg", "tif": "tiff",
    "tiff": "tiff", "asdf": "asdf", "txt": "txt",
}

_DETECTOR_PREFIXES = (
    ("guider", "fgs"), ("nrc", "nircam"), ("mir", "miri"), ("nrs", "nirspec"), ("nis", "niriss"),
)

# Name grammars (applied to the lower-cased stem) ----------------------------------------------
_INSTR = "|".join(INSTRUMENTS)
_ACID = r"o\d{3}|[car]\d{4}"
_TARGET = r"t\d{3}|s\d{9}|s\d{5}"  # 9-digit source ids; 5-digit ones in older products
_EXPOSURE_BASE = (
    r"jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_(?P<activity>\d{5})_(?P<exposure>\d{5})(?:-seg(?P<segment>\d{3}))?"
    r"_(?P<detector>guider[12]|nrc[a-z0-9]+|mir[a-z0-9]+|nrs[a-z0-9]+|nis)"
)
_EXPOSURE = re.compile(
    _EXPOSURE_BASE + r"(?:_(?P<acid>o\d{3}|c\d{4}))?_(?P<suffix>[a-z0-9-]+)"
)
_EXPOSURE_PRODUCT = re.compile(_EXPOSURE_BASE + r"(?:_(?P<acid>o\d{3}|c\d{4}))?")
_GUIDER = re.compile(
    r"(?P<base>jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_gs-(?P<mode>id|acq1|acq2|track|fg)_(?P<stamp>\d+)(?:_(?P<form>image|stacked))?)"
    r"[_-](?P<suffix>[a-z0-9]+)"
)
_STAGE3_HEAD = (
    rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})_(?P<target>{_TARGET})"
    rf"(?:-(?P<epoch>epoch\d+))?_(?P<instrument>{_INSTR})"
)
_STAGE3 = re.compile(_STAGE3_HEAD + r"(?:_(?P<optics>.+?))?_(?P<suffix>[^_]+)")
_OBS_ID = re.compile(_STAGE3_HEAD + r"(?:_(?P<optics>.+))?")
_ASN = re.compile(
    rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})_(?P<stamp>\d{{8}}t\d{{6}})"
    r"_(?P<type>[a-z0-9-]+)_(?P<seq>\d{3})_asn"
)
_POOL = re.compile(r"jw(?P<program>\d{5})_(?P<stamp>\d{8}t\d{6})_pool")
_GROUP = re.compile(rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})(?:_(?P<target>t\d{{3}}))?"
                    rf"_(?P<instrument>{_INSTR})")


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """Everything a JWST file name says about the file (the file-name and lineage rules).

    ``name`` is the basename as given; every other text field is lower case. Fields a name
    does not carry are None. ``observation_base_id`` is the group key the name alone gives;
    ``provisional`` is True when it is the short ``jw{P}-{acid}_{instrument}`` form that
    :func:`jwstnb.lineage.plan_lineage` upgrades once the full key is known. Associations get
    ``observation_base_id=None``: their group comes from the product name inside the file.
    """

    name: str
    stem: str
    suffix: str
    extension: str
    file_format: str
    compressed: bool
    kind: Kind
    processing_level: ProcessingLevel
    data_type: DataType
    is_viewable: bool
    program: str | None = None
    observation: str | None = None
    visit: str | None = None
    exposure_id: str | None = None
    exposure: str | None = None
    detector: str | None = None
    segment: str | None = None
    instrument: str | None = None
    optics: str | None = None
    target: str | None = None
    epoch: str | None = None
    association_id: str | None = None
    asn_type: str | None = None
    guide_mode: str | None = None
    observation_base_id: str | None = None
    provisional: bool = False

    @property
    def product(self) -> str | None:
        """The stem without its ``_suffix`` for exposure/stage-3 names (an asn product name)."""
        if self.kind not in ("exposure", "stage3"):
            return None
        return self.stem[: len(self.stem) - len(self.suffix) - 1]


class GroupKey(NamedTuple):
    """A parsed group key; ``target`` None means the provisional form."""

    program: str
    acid: str
    target: str | None
    instrument: str

    @property
    def slot(self) -> tuple[str, str, str]:
        """(program, association id, instrument): the keys a full key upgrades."""
        return (self.program, self.acid, self.instrument)

    def key(self) -> str:
        target = f"_{self.target}" if self.target else ""
        return f"jw{self.program}-{self.acid}{target}_{self.instrument}"


def instrument_of_detector(detector: str) -> str | None:
    """The instrument a detector belongs to (nrc* nircam, mir* miri, nrs* nirspec, nis niriss,
    guider* fgs), or None."""
    detector = detector.lower()
    for prefix, instrument in _DETECTOR_PREFIXES:
        if detector.startswith(prefix):
            return instrument
    return None


def parse_group_key(key: str | None) -> GroupKey | None:
    """Parse a full (``jw02733-o001_t001_nircam``) or provisional (``jw02733-o001_nircam``)
    group key; None for anything else."""
    if not key:
        return None
    m = _GROUP.fullmatch(key.strip().lower())
    if m is None:
        return None
    return GroupKey(m["program"], m["acid"], m["target"], m["instrument"])


def group_from_obs_id(obs_id: str | None) -> str | None:
    """The group key of a MAST stage-3 ``obs_id`` (optical elements and epoch stripped).

    ``jw02733-o001_t001_nircam_clear-f090w`` -> ``jw02733-o001_t001_nircam``. A source-based
    obs id (``jw01345-o066_s000000680_nirspec_f170lp-g235m``) gives the provisional
    observation key ``jw01345-o066_nirspec``, like :func:`classify` does for its products.
    None when ``obs_id`` is not a JWST stage-3 obs id (exposure-level obs ids included).
    """
    m = _OBS_ID.fullmatch((obs_id or "").strip().lower())
    if m is None:
        return None
    return _stage3_group(m["program"], m["acid"], m["target"], m["instrument"])[0]


def group_from_key(key: str | None) -> str | None:
    """The group key from the folder of a ``mast/{obs_id}/file`` storage key, or None.

    Only the file's own (innermost) folder is considered, whatever prefix precedes it.
    """
    if not key:
        return None
    parts = [p for p in key.replace("\\", "/").split("/") if p]
    if len(parts) < 2:
        return None
    return group_from_obs_id(parts[-2])


def product_group(product: str) -> tuple[str, bool] | None:
    """(group key, provisional) for a product name without suffix, as written in an asn.

    Stage-3 products (``jw02733-o001_t001_nircam_clear-f090w``) give their full key
    (provisional for source-based ``s#########`` products); exposure products
    (``jw02733001001_02101_00001_nrca1``, stage-2 associations) give the provisional
    observation key. None otherwise.
    """
    text = product.strip().lower()
    m = _OBS_ID.fullmatch(text)
    if m is not None:
        return _stage3_group(m["program"], m["acid"], m["target"], m["instrument"])
    m = _EXPOSURE_PRODUCT.fullmatch(text)
    if m is not None:
        instrument = instrument_of_detector(m["detector"])
        if instrument is not None:
            return f"jw{m['program']}-o{m['observation']}_{instrument}", True
    return None


def _stage3_group(program: str, acid: str, target: str, instrument: str) -> tuple[str, bool]:
    if target.startswith("t"):
        return f"jw{program}-{acid}_{target}_{instrument}", False
    return f"jw{program}-{acid}_{instrument}", True


def _split_name(name: str) -> tuple[str, str, str, bool]:
    """(basename, lower-case stem, lower-case extension, compressed)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    lower = base.strip().lower()
    compressed = lower.endswith(".gz")
    if compressed:
        lower = lower[:-3]
    stem, dot, ext = lower.rpartition(".")
    if not dot or not stem:
        return base, lower, "", compressed
    return base, stem, "." + ext, compressed


def _level(kind: Kind, suffix: str) -> ProcessingLevel:
    if suffix not in _PRODUCTS:
        return ProcessingLevel.UNKNOWN  # asn, pool and unknown suffixes
    if suffix in _L1:
        return ProcessingLevel.L1
    if suffix in _L2A:
        return ProcessingLevel.L2A
    if kind == "stage3":
        return ProcessingLevel.L3
    if kind == "exposure" or suffix in _EXPOSURE_ONLY:
        return ProcessingLevel.L2B
    return ProcessingLevel.L3  # a combined-product suffix on a non-JWST name


def _data_type(suffix: str, file_format: str) -> DataType:
    if file_format in _TABLE_FORMATS or suffix in _METADATA:
        return DataType.METADATA
    if suffix in _L1:
        return DataType.RAW
    if suffix in _L2A:
        return DataType.SENSOR
    if suffix in _SPECTRAL:
        return DataType.SPECTRAL
    return DataType.IMAGE


def classify(name: str) -> FileIdentity:
    """Classify one file name (a basename or a path/key; directories are ignored).

    >>> classify("jw02733001001_02101_00001_nrca1_cal.fits").processing_level
    <ProcessingLevel.L2B: 'L2b'>
    """
    base, stem, extension, compressed = _split_name(name)
    file_format = _FORMATS.get(extension[1:], extension[1:] or "unknown")
    ids: dict[str, str | bool | None] = {}
    kind: Kind = "other"
    suffix = stem.rsplit("_", 1)[-1]

    if m := _EXPOSURE.fullmatch(stem):
        kind, suffix = "exposure", m["suffix"]
        instrument = instrument_of_detector(m["detector"])
        program, observation = m["program"], m["observation"]
        ids = {
            "program": program,
            "observation": observation,
            "visit": m["visit"],
            "exposure_id": f"jw{program}{observation}{m['visit']}_{m['activity']}_{m['exposure']}",
            "exposure": m["exposure"],
            "detector": m["detector"],
            "segment": m["segment"],
            "instrument": instrument,
            "association_id": m["acid"],
            "observation_base_id": f"jw{program}-o{observation}_{instrument}",
            "provisional": True,
        }
    elif m := _GUIDER.fullmatch(stem):
        kind, suffix = "exposure", m["suffix"]
        program, observation = m["program"], m["observation"]
        ids = {
            "program": program,
            "observation": observation,
            "visit": m["visit"],
            "exposure_id": m["base"],
            "instrument": "fgs",
            "guide_mode": m["mode"],
            "observation_base_id": f"jw{program}-o{observation}_fgs",
            "provisional": True,
        }
    elif m := _STAGE3.fullmatch(stem):
        kind, suffix = "stage3", m["suffix"]
        acid = m["acid"]
        key, provisional = _stage3_group(m["program"], acid, m["target"], m["instrument"])
        ids = {
            "program": m["program"],
            "observation": acid[1:] if acid.startswith("o") else None,
            "instrument": m["instrument"],
            "optics": m["optics"],
            "target": m["target"],
            "epoch": m["epoch"],
            "association_id": acid,
            "observation_base_id": key,
            "provisional": provisional,
        }
    elif extension == ".json" and (m := _ASN.fullmatch(stem)):
        kind = "association"
        acid = m["acid"]
        ids = {
            "program": m["program"],
            "observation": acid[1:] if acid.startswith("o") else None,
            "association_id": acid,
            "asn_type": m["type"],
        }
    elif extension == ".csv" and (m := _POOL.fullmatch(stem)):
        kind = "pool"
        ids = {"program": m["program"]}

    data_type = _data_type(suffix, file_format)
    return FileIdentity(
        name=base,
        stem=stem,
        suffix=suffix,
        extension=extension,
        file_format=file_format,
        compressed=compressed,
        kind=kind,
        processing_level=_level(kind, suffix),
        data_type=data_type,
        is_viewable=not (data_type == DataType.METADATA or suffix in _NOT_VIEWABLE),
        **ids,  # type: ignore[arg-type]
    )
