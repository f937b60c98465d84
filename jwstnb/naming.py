"""JWST file names -> identity: one parser for every part of jwstnb (pure; no I/O).

Ingest, the session and the widgets all call this one rule, so they never disagree about
a file. :func:`classify` turns a file name into a :class:`FileIdentity` (kind,
processing level, data type, viewability and every id the name carries, including the
observation group key). :func:`file_type` and the ``*_EXTENSIONS`` constants say which
files jwstnb reads and how. :func:`group_from_obs_id` and :func:`group_from_key` derive
the group key from a MAST ``obs_id`` or from a ``mast/{obs_id}/file`` storage key.

Grammar (case-insensitive, directories ignored, a trailing ``.gz`` ignored)::

    exposure  jw{P5}{O3}{V3}_{GG}{S}{AA}_{EEEEE}[-seg{NNN}]_{detector}[_{acid}]_{suffix}[-NN]
              (AA is base 36; acid o###, c####, a#### or r####)
    guider    jw{P5}{O3}{V3}_gs-{id|acq1|acq2|track|fg}_{stamp}[_{image|stacked}]_{suffix}
    stage 3   jw{P5}-{o###|c####|a####|r####}_{target}[-epoch#]_{instr}[_{optics}]_{suffix}[-NN]
              (target t###, s#########, b#########, v######### or t###-s#########)
    preview   {exposure or stage-3 name}[_thumb].{jpg|jpeg|png|tif|tiff}
    msa       jw{P5}{O3}{V3}_{NN}_msa.fits
    asn       jw{P5}-{acid}_{timestamp}_{type}_{NNN|NNNa|NNNNN}_asn.json
    pool      jw{P5}_{timestamp}_pool.csv
    reference jwst_{instrument}_{reftype}_{NNNN}.{fits|asdf|json}  (CRDS reference file)
    context   jwst[_{instrument}[_{reftype}]]_{NNNN}.{pmap|imap|rmap}  (CRDS rules)
    other     anything else: suffix = last ``_`` token of the stem, all ids None

``-NN`` directly after the product type is an activity id, not part of the suffix.

Group keys (``observation_base_id``): full ``jw{P}-{acid}_t{T}_{instrument}``; provisional
``jw{P}-{acid}_{instrument}`` until :mod:`jwstnb.lineage` finds the full key in the same
set. Exposure names give their observation (``acid = o{OOO}``), or the association they were
made for when they carry a ``c``/``a``/``r`` id; source-based stage-3 names give their
association's provisional key, except ``t###-s#########`` names, which carry the full key.

:func:`context_number` reads the number of a CRDS context (``jwst_1200.pmap`` -> 1200), the
order in which contexts compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, NamedTuple

# CRDS context names (``jwst_1200.pmap``) are read where records are: schema owns the rule,
# naming gives it under the name users look for.
from jwstnb.schema import DataType, ProcessingLevel, context_number

__all__ = [
    "ASDF_EXTENSIONS",
    "FITS_EXTENSIONS",
    "INSTRUMENTS",
    "JSON_EXTENSIONS",
    "PICTURE_EXTENSIONS",
    "SCAN_EXTENSIONS",
    "TABLE_EXTENSIONS",
    "FileIdentity",
    "FileType",
    "GroupKey",
    "Kind",
    "classify",
    "context_number",
    "file_type",
    "group_from_key",
    "group_from_obs_id",
    "instrument_of_detector",
    "is_scannable",
    "parse_group_key",
    "product_group",
    "program_of",
]

Kind = Literal[
    "exposure", "stage3", "association", "pool", "msa", "reference", "context", "other"
]
FileType = Literal["fits", "asdf", "json", "table", "picture"]

INSTRUMENTS = ("fgs", "miri", "nircam", "niriss", "nirspec")

# What kind of file is this: the one list every reader and scanner of jwstnb uses -------------
#: FITS files (astropy opens the gzipped forms directly).
FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
#: ASDF files (read with the ``asdf`` library).
ASDF_EXTENSIONS = (".asdf",)
#: JSON files (association tables).
JSON_EXTENSIONS = (".json",)
#: Text tables (ECSV, CSV).
TABLE_EXTENSIONS = (".ecsv", ".csv")
#: Pictures (opened with Pillow).
PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Every file a scan imports, lower case (for ``str.endswith`` on a lower-cased key).
SCAN_EXTENSIONS = (
    FITS_EXTENSIONS + ASDF_EXTENSIONS + JSON_EXTENSIONS + TABLE_EXTENSIONS + PICTURE_EXTENSIONS
)
_FILE_TYPES: tuple[tuple[FileType, tuple[str, ...]], ...] = (
    ("fits", FITS_EXTENSIONS),
    ("asdf", ASDF_EXTENSIONS),
    ("json", JSON_EXTENSIONS),
    ("table", TABLE_EXTENSIONS),
    ("picture", PICTURE_EXTENSIONS),
)

# Product suffixes -------------------------------------------------------------------------
# Stage 1 (raw ramps) and the count-rate products that end it.
_L1 = frozenset({"uncal"})
# ``trapsfilled`` (the detector's trap state after an exposure, written by the persistence step)
# is listed by MAST with the exposure's count-rate products.
_L2A = frozenset({"rate", "rateints", "trapsfilled"})
# Suffixes only ever written on exposure names (stage 2, or stage 3 per-exposure outputs).
_EXPOSURE_ONLY = frozenset(
    {"cal", "calints", "crf", "crfints", "bsub", "bsubints", "psfalign", "psfsub", "blot"}
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
_PICTURE_FORMATS = frozenset({"png", "jpg", "tiff"})
_SPECTRAL = frozenset({"s2d", "s3d", "x1d", "x1dints", "c1d"})
_METADATA = frozenset({"cat", "asn", "pool", "phot", "msa"})
_NOT_VIEWABLE = frozenset({"x1d", "x1dints", "c1d"})  # plus every metadata file

_FORMATS = {
    "fits": "fits", "fit": "fits", "fts": "fits", "ecsv": "ecsv", "csv": "csv",
    "json": "json", "png": "png", "jpg": "jpg", "jpeg": "jpg", "tif": "tiff",
    "tiff": "tiff", "asdf": "asdf", "txt": "txt",
}
_CONTEXT_EXTENSIONS = frozenset({".pmap", ".imap", ".rmap"})

_DETECTOR_PREFIXES = (
    ("guider", "fgs"), ("nrc", "nircam"), ("mir", "miri"), ("nrs", "nirspec"), ("nis", "niriss"),
)

# Name grammars (applied to the lower-cased stem) ----------------------------------------------
_INSTR = "|".join(INSTRUMENTS)
_ACID = r"o\d{3}|[car]\d{4}"
# A product type, then an optional activity id (``wfscmb-04``); hyphenated types such as
# ``ami-oi`` continue with a letter, an activity id is digits only.
_SUFFIX = r"_(?P<suffix>[a-z0-9]+(?:-[a-z][a-z0-9]*)*)(?:-(?P<activity_id>\d+))?"
_EXPOSURE_BASE = (
    r"jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_(?P<activity>\d{3}[0-9a-z]{2})_(?P<exposure>\d{5})(?:-seg(?P<segment>\d{3}))?"
    r"_(?P<detector>guider[12]|nrc[a-z0-9]+|mir[a-z0-9]+|nrs[a-z0-9]+|nis)"
    rf"(?:_(?P<acid>{_ACID}))?"
)
_EXPOSURE = re.compile(_EXPOSURE_BASE + _SUFFIX)
_EXPOSURE_PRODUCT = re.compile(_EXPOSURE_BASE)
_GUIDER_BASE = (
    r"(?P<base>jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})"
    r"_gs-(?P<mode>id|acq1|acq2|track|fg)_(?P<stamp>\d+)(?:_(?P<form>image|stacked))?)"
)
_GUIDER = re.compile(_GUIDER_BASE + r"[_-](?P<suffix>[a-z0-9]+)(?:-(?P<activity_id>\d+))?")
_GUIDER_PRODUCT = re.compile(_GUIDER_BASE)
_STAGE3_HEAD = (
    rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})"
    r"_(?:(?P<target>t\d{3})(?:-(?P<tsource>s\d{9}))?|(?P<source>[sbv]\d{9}|s\d{5}))"
    rf"(?:-(?P<epoch>epoch\d+))?_(?P<instrument>{_INSTR})"
)
_STAGE3 = re.compile(_STAGE3_HEAD + r"(?:_(?P<optics>.+?))?" + _SUFFIX)
_OBS_ID = re.compile(_STAGE3_HEAD + r"(?:_(?P<optics>.+))?")
_MSA = re.compile(r"jw(?P<program>\d{5})(?P<observation>\d{3})(?P<visit>\d{3})_(?P<seq>\d{2})_msa")
_ASN = re.compile(
    rf"jw(?P<program>\d{{5}})-(?P<acid>{_ACID})_(?P<stamp>\d{{8}}t\d{{6}})"
    r"_(?P<type>[a-z0-9-]+)_(?P<seq>\d{3}[a-z]?|\d{5})_asn"
)
_POOL = re.compile(r"jw(?P<program>\d{5})_(?P<stamp>\d{8}t\d{6})_pool")
_CRDS_INSTR = _INSTR + "|system"
_REFTYPE = r"[a-z0-9]+(?:-[a-z0-9]+)*"  # flat, specwcs, pars-tweakregstep, ...
_REFERENCE = re.compile(
    rf"jwst_(?P<instrument>{_CRDS_INSTR})_(?P<reftype>{_REFTYPE})_(?P<seq>\d{{4,}})"
)
_CONTEXT = re.compile(
    rf"jwst(?:_(?P<instrument>{_CRDS_INSTR})(?:_(?P<reftype>{_REFTYPE}))?)?_(?P<seq>\d{{4,}})"
)
# CRDS keeps a few reference types (msaoper, ...) as JSON.
_REFERENCE_EXTENSIONS = frozenset({".fits", ".asdf", ".json"})
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

    ``target`` is a stage-3 ``t###``; ``source_id`` the ``s``/``b``/``v`` source of a
    source-based product. ``activity_id`` is the ``NN`` of ``{suffix}-NN``. ``sequence`` is
    the number an association, MSA metafile or CRDS file carries (``001``, ``002a``,
    ``00001``, ``01``, ``0001``). ``reftype`` is a CRDS reference type. ``preview`` marks a
    picture (JPG/PNG/TIFF) of a product (the product's ids, level and group), ``thumbnail`` its
    ``_thumb`` form.
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
    source_id: str | None = None
    epoch: str | None = None
    association_id: str | None = None
    asn_type: str | None = None
    guide_mode: str | None = None
    activity_id: str | None = None
    sequence: str | None = None
    reftype: str | None = None
    observation_base_id: str | None = None
    provisional: bool = False
    preview: bool = False
    thumbnail: bool = False

    @property
    def product(self) -> str | None:
        """The product name of exposure/stage-3 names: the stem without ``_suffix``,
        activity id and ``_thumb`` (what an association's ``products`` entry names)."""
        if self.kind not in ("exposure", "stage3"):
            return None
        cut = len(self.suffix) + 1
        if self.activity_id:
            cut += len(self.activity_id) + 1
        if self.thumbnail:
            cut += len("_thumb")
        return self.stem[: len(self.stem) - cut]


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


def file_type(name: str) -> FileType | None:
    """How jwstnb reads a file, from its name: ``"fits"``, ``"asdf"``, ``"json"``,
    ``"table"`` (ECSV/CSV), ``"picture"`` (PNG/JPG/TIFF), or None for files a scan skips.

    Case-insensitive; gzipped FITS (``.fits.gz``, ``.fit.gz``, ``.fts.gz``) is ``"fits"``.

    >>> file_type("mast/x/jw02733001001_02101_00001_nrca1_cal.FITS.gz")
    'fits'
    """
    lower = name.strip().lower()
    for kind, extensions in _FILE_TYPES:
        if lower.endswith(extensions):
            return kind
    return None


def is_scannable(key: str) -> bool:
    """Whether a scan imports the file at this storage key: a :func:`file_type` it reads, and
    nothing hidden on the way (``.jwstnb/`` thumbnail caches, ``.ipynb_checkpoints/``,
    macOS ``._name.fits`` resource forks)."""
    parts = [p for p in key.replace("\\", "/").split("/") if p]
    if not parts or any(p.startswith(".") for p in parts):
        return False
    return file_type(parts[-1]) is not None


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
    """The group key of a MAST ``obs_id`` (optical elements and epoch stripped).

    ``jw02733-o001_t001_nircam_clear-f090w`` -> ``jw02733-o001_t001_nircam``. A source-based
    obs id (``jw01345-o066_s000000680_nirspec_f170lp-g235m``) gives the provisional key
    ``jw01345-o066_nirspec`` (``jw01345-o066_t001-s000000680_...`` the full
    ``jw01345-o066_t001_nirspec``), and an exposure-level one
    (``jw01410001001_02101_00001_guider1``) its observation's provisional key
    (``jw01410-o001_fgs``), as :func:`classify` does for their files. None otherwise.
    """
    found = product_group(obs_id or "")
    return found[0] if found else None


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


def program_of(text: str | None) -> str | None:
    """The five-digit program of a JWST file name, storage key or MAST obs_id, else None.

    >>> program_of("jw01410001001_02101_00001_guider1"), program_of("mast/x/jw02733_pool.csv")
    ('01410', None)
    """
    if not text or not text.strip():
        return None
    program = classify(text).program
    if program is None and (key := parse_group_key(group_from_obs_id(text))):
        program = key.program
    return program




def product_group(product: str) -> tuple[str, bool] | None:
    """(group key, provisional) for a product name without suffix, as written in an asn
    or as a MAST obs_id.

    Stage-3 products (``jw02733-o001_t001_nircam_clear-f090w``) give their full key
    (provisional for source-based products without a ``t###``); exposure products
    (``jw02733001001_02101_00001_nrca1``, stage-2 associations, exposure-level obs ids) give
    the provisional key of their observation, or of the association they were made for
    (``..._nrca1_c1027``). None otherwise.
    """
    text = product.strip().lower()
    if m := _OBS_ID.fullmatch(text):
        return _stage3_group(m)
    if m := _EXPOSURE_PRODUCT.fullmatch(text):
        return _exposure_group(m)
    if m := _GUIDER_PRODUCT.fullmatch(text):
        return f"jw{m['program']}-o{m['observation']}_fgs", True
    return None


def _stage3_group(m: re.Match[str]) -> tuple[str, bool]:
    """(key, provisional) of a stage-3 name: full when it carries a ``t###`` (alone or as the
    ``t###-s#########`` of a source in that target's group), else provisional."""
    program, acid, instrument = m["program"], m["acid"], m["instrument"]
    if m["target"]:
        return f"jw{program}-{acid}_{m['target']}_{instrument}", False
    return f"jw{program}-{acid}_{instrument}", True


def _exposure_group(m: re.Match[str]) -> tuple[str, bool] | None:
    """The provisional key of an exposure name: its association's for c/a/r ids, else its
    observation's."""
    instrument = instrument_of_detector(m["detector"])
    if instrument is None:
        return None
    acid = m["acid"] if m["acid"] and not m["acid"].startswith("o") else f"o{m['observation']}"
    return f"jw{m['program']}-{acid}_{instrument}", True


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
    if kind in ("reference", "context") or suffix not in _PRODUCTS:
        return ProcessingLevel.UNKNOWN  # asn, pool, msa, CRDS files and unknown suffixes
    if suffix in _L1:
        return ProcessingLevel.L1
    if suffix in _L2A:
        return ProcessingLevel.L2A
    if kind == "stage3":
        return ProcessingLevel.L3
    if kind == "exposure" or suffix in _EXPOSURE_ONLY:
        return ProcessingLevel.L2B
    return ProcessingLevel.L3  # a combined-product suffix on a non-JWST name


def _data_type(kind: Kind, suffix: str, file_format: str) -> DataType:
    if kind in ("reference", "context"):
        return DataType.CALIBRATION
    if file_format in _PICTURE_FORMATS:
        return DataType.IMAGE
    if file_format in _TABLE_FORMATS or suffix in _METADATA:
        return DataType.METADATA
    if suffix in _L1:
        return DataType.RAW
    if suffix in _L2A:
        return DataType.SENSOR
    if suffix in _SPECTRAL:
        return DataType.SPECTRAL
    return DataType.IMAGE


def _viewable(kind: Kind, suffix: str, data_type: DataType, file_format: str) -> bool:
    """False for tables and catalogs (CRDS rules files are tables), else True."""
    if file_format in _PICTURE_FORMATS:
        return True
    if kind == "context" or file_format in _TABLE_FORMATS:
        return False
    return not (data_type == DataType.METADATA or suffix in _NOT_VIEWABLE)


_Ids = dict[str, str | bool | None]


def _exposure_ids(m: re.Match[str]) -> _Ids:
    program, observation, visit = m["program"], m["observation"], m["visit"]
    group = _exposure_group(m)
    return {
        "program": program,
        "observation": observation,
        "visit": visit,
        "exposure_id": f"jw{program}{observation}{visit}_{m['activity']}_{m['exposure']}",
        "exposure": m["exposure"],
        "detector": m["detector"],
        "segment": m["segment"],
        "instrument": instrument_of_detector(m["detector"]),
        "association_id": m["acid"],
        "activity_id": m["activity_id"],
        "observation_base_id": group[0] if group else None,
        "provisional": True,
    }


def _guider_ids(m: re.Match[str]) -> _Ids:
    program, observation = m["program"], m["observation"]
    return {
        "program": program,
        "observation": observation,
        "visit": m["visit"],
        "exposure_id": m["base"],
        "instrument": "fgs",
        "guide_mode": m["mode"],
        "activity_id": m["activity_id"],
        "observation_base_id": f"jw{program}-o{observation}_fgs",
        "provisional": True,
    }


def _stage3_ids(m: re.Match[str]) -> _Ids:
    acid = m["acid"]
    key, provisional = _stage3_group(m)
    return {
        "program": m["program"],
        "observation": acid[1:] if acid.startswith("o") else None,
        "instrument": m["instrument"],
        "optics": m["optics"],
        "target": m["target"],
        "source_id": m["tsource"] or m["source"],
        "epoch": m["epoch"],
        "association_id": acid,
        "activity_id": m["activity_id"],
        "observation_base_id": key,
        "provisional": provisional,
    }


def _crds_ids(m: re.Match[str]) -> _Ids:
    return {"instrument": m["instrument"], "reftype": m["reftype"], "sequence": m["seq"]}


def _product(stem: str) -> tuple[Kind, str, _Ids] | None:
    """(kind, suffix, ids) of an exposure, guide-star or stage-3 product stem, or None."""
    if m := _EXPOSURE.fullmatch(stem):
        return "exposure", m["suffix"], _exposure_ids(m)
    if m := _GUIDER.fullmatch(stem):
        return "exposure", m["suffix"], _guider_ids(m)
    if m := _STAGE3.fullmatch(stem):
        return "stage3", m["suffix"], _stage3_ids(m)
    return None


def _parse(stem: str, extension: str, file_format: str) -> tuple[Kind, str, _Ids]:
    """(kind, suffix, ids) of a lower-case stem; the ``other`` kind when no grammar fits."""
    if file_format in _PICTURE_FORMATS:
        bare = stem[: -len("_thumb")] if stem.endswith("_thumb") else stem
        if found := _product(bare):
            kind, suffix, ids = found
            return kind, suffix, {**ids, "preview": True, "thumbnail": bare != stem}
    elif found := _product(stem):
        return found
    if extension == ".fits" and (m := _MSA.fullmatch(stem)):
        program, observation = m["program"], m["observation"]
        return "msa", "msa", {
            "program": program,
            "observation": observation,
            "visit": m["visit"],
            "instrument": "nirspec",
            "sequence": m["seq"],
            "observation_base_id": f"jw{program}-o{observation}_nirspec",
            "provisional": True,
        }
    if extension == ".json" and (m := _ASN.fullmatch(stem)):
        acid = m["acid"]
        return "association", "asn", {
            "program": m["program"],
            "observation": acid[1:] if acid.startswith("o") else None,
            "association_id": acid,
            "asn_type": m["type"],
            "sequence": m["seq"],
        }
    if extension == ".csv" and (m := _POOL.fullmatch(stem)):
        return "pool", "pool", {"program": m["program"]}
    if extension in _REFERENCE_EXTENSIONS and (m := _REFERENCE.fullmatch(stem)):
        return "reference", m["reftype"], _crds_ids(m)
    if extension in _CONTEXT_EXTENSIONS and (m := _CONTEXT.fullmatch(stem)):
        return "context", m["reftype"] or extension[1:], _crds_ids(m)
    return "other", stem.rsplit("_", 1)[-1], {}


def classify(name: str) -> FileIdentity:
    """Classify one file name (a basename or a path/key; directories are ignored).

    >>> classify("jw02733001001_02101_00001_nrca1_cal.fits").processing_level
    <ProcessingLevel.L2B: 'L2b'>
    """
    base, stem, extension, compressed = _split_name(name)
    file_format = _FORMATS.get(extension[1:], extension[1:] or "unknown")
    kind, suffix, ids = _parse(stem, extension, file_format)
    data_type = _data_type(kind, suffix, file_format)
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
        is_viewable=_viewable(kind, suffix, data_type, file_format),
        **ids,  # type: ignore[arg-type]
    )


# --- Filter and grating bands ------------------------------------------------------------------
#
# Where on the spectrum a JWST filter or disperser lets light through, in microns, for
# ObsCore's em_min/em_max and wavelength searches. Source: the filter and disperser tables of
# the JWST User Documentation (JDox): "NIRCam Filters", "NIRISS Filters", "MIRI Filters and
# Dispersers", "NIRSpec Dispersers and Filters", "MIRI Medium Resolution Spectroscopy" and
# "Fine Guidance Sensor". Filters are given as pivot wavelength +/- half their bandwidth (the
# JDox columns, rounded to the nanometre); dispersers and filter/grating pairs as the
# wavelength range the tables give for them. Good to about one per cent: what a search by
# wavelength or an ObsCore table needs, not a throughput curve.

#: Filter -> (pivot wavelength, bandwidth) in microns, per instrument (NIRISS's short filters
#: carry a low-pass element and differ slightly from NIRCam's of the same name).
_FILTER_PIVOTS: dict[str, dict[str, tuple[float, float]]] = {
    "nircam": {
        "F070W": (0.704, 0.128), "F090W": (0.901, 0.194), "F115W": (1.154, 0.225),
        "F140M": (1.404, 0.142), "F150W": (1.501, 0.318), "F150W2": (1.671, 1.227),
        "F162M": (1.626, 0.168), "F164N": (1.644, 0.020), "F182M": (1.845, 0.238),
        "F187N": (1.874, 0.024), "F200W": (1.990, 0.461), "F210M": (2.093, 0.205),
        "F212N": (2.120, 0.027), "F250M": (2.503, 0.181), "F277W": (2.786, 0.672),
        "F300M": (2.996, 0.318), "F322W2": (3.247, 1.339), "F323N": (3.237, 0.038),
        "F335M": (3.365, 0.347), "F356W": (3.563, 0.787), "F360M": (3.621, 0.372),
        "F405N": (4.055, 0.046), "F410M": (4.092, 0.436), "F430M": (4.280, 0.228),
        "F444W": (4.421, 1.024), "F460M": (4.624, 0.228), "F466N": (4.654, 0.054),
        "F470N": (4.707, 0.051), "F480M": (4.834, 0.303),
    },
    "niriss": {
        "F090W": (0.900, 0.200), "F115W": (1.150, 0.264), "F140M": (1.405, 0.144),
        "F150W": (1.497, 0.330), "F158M": (1.582, 0.198), "F200W": (1.993, 0.463),
        "F277W": (2.762, 0.696), "F356W": (3.528, 0.821), "F380M": (3.828, 0.204),
        "F430M": (4.283, 0.296), "F444W": (4.440, 1.082), "F480M": (4.815, 0.303),
    },
    "miri": {
        "F560W": (5.635, 1.00), "F770W": (7.639, 1.95), "F1000W": (9.953, 1.80),
        "F1130W": (11.309, 0.73), "F1280W": (12.810, 2.47), "F1500W": (15.064, 2.92),
        "F1800W": (17.984, 2.95), "F2100W": (20.795, 4.58), "F2550W": (25.365, 3.67),
        "F2550WR": (25.365, 3.67), "F1065C": (10.575, 0.75), "F1140C": (11.296, 0.80),
        "F1550C": (15.516, 0.90), "F2300C": (22.644, 5.50),
    },
}

#: Elements given as a wavelength range (microns): NIRSpec filters and gratings, MIRI's LRS
#: prism, NIRISS's SOSS grism, the guider.
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "nirspec": {
        "CLEAR": (0.60, 5.30), "PRISM": (0.60, 5.30), "F070LP": (0.70, 1.27),
        "F100LP": (0.97, 1.89), "F170LP": (1.66, 3.17), "F290LP": (2.87, 5.27),
        "F110W": (1.00, 1.20), "F140X": (0.80, 2.00),
        "G140M": (0.70, 1.89), "G140H": (0.70, 1.89), "G235M": (1.66, 3.17),
        "G235H": (1.66, 3.17), "G395M": (2.87, 5.27), "G395H": (2.87, 5.27),
    },
    "miri": {"P750L": (5.0, 14.0)},
    "niriss": {"GR700XD": (0.6, 2.8)},
    "fgs": {"FGS": (0.6, 5.0), "GUIDER": (0.6, 5.0), "GUIDER1": (0.6, 5.0),
            "GUIDER2": (0.6, 5.0)},
}

#: NIRSpec grating/filter pairs (the order of the two names does not matter).
_NIRSPEC_PAIRS: dict[frozenset[str], tuple[float, float]] = {
    frozenset({"G140M", "F070LP"}): (0.90, 1.27), frozenset({"G140M", "F100LP"}): (0.97, 1.89),
    frozenset({"G140H", "F070LP"}): (0.95, 1.27), frozenset({"G140H", "F100LP"}): (0.97, 1.89),
    frozenset({"G235M", "F170LP"}): (1.66, 3.17), frozenset({"G235H", "F170LP"}): (1.66, 3.17),
    frozenset({"G395M", "F290LP"}): (2.87, 5.27), frozenset({"G395H", "F290LP"}): (2.87, 5.27),
    frozenset({"PRISM", "CLEAR"}): (0.60, 5.30),
}

#: MIRI MRS sub-bands: channel -> (SHORT, MEDIUM, LONG) ranges in microns.
_MRS: dict[str, tuple[tuple[float, float], ...]] = {
    "1": ((4.90, 5.74), (5.66, 6.63), (6.53, 7.65)),
    "2": ((7.51, 8.77), (8.67, 10.13), (10.02, 11.70)),
    "3": ((11.55, 13.47), (13.34, 15.57), (15.41, 17.98)),
    "4": ((17.70, 20.95), (20.69, 24.48), (24.19, 27.90)),
}
_MRS_BANDS = {"SHORT": 0, "A": 0, "MEDIUM": 1, "B": 1, "LONG": 2, "C": 2}
_MRS_NAME = re.compile(r"CH(?P<channels>[1-4]+)(?:-(?P<bands>(?:SHORT|MEDIUM|LONG)+|[ABC]))?")
_MRS_SUB = re.compile(r"SHORT|MEDIUM|LONG|[ABC]")
#: Tokens that pass light without shaping the band (pupils, masks, grisms, weak lenses).
_SEPARATORS = re.compile(r"[-/;+,|\s]+")

__all__ += ["band"]


def _element_bands() -> dict[str, dict[str, tuple[float, float]]]:
    """Instrument -> element -> (min, max) microns, filters from their pivots."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for instrument, table in _FILTER_PIVOTS.items():
        out.setdefault(instrument, {}).update({
            name: (round(pivot - width / 2, 4), round(pivot + width / 2, 4))
            for name, (pivot, width) in table.items()
        })
    for instrument, ranges in _RANGES.items():
        out.setdefault(instrument, {}).update(ranges)
    return out


_BANDS = _element_bands()


def _mrs_band(token: str) -> tuple[float, float] | None:
    """The range of a MIRI MRS name (``CH1-SHORT``, ``CH12-SHORTMEDIUMLONG``, ``CH3``)."""
    m = _MRS_NAME.fullmatch(token)
    if m is None:
        return None
    bands = [_MRS_BANDS[b] for b in _MRS_SUB.findall(m["bands"] or "")] or [0, 1, 2]
    ranges = [_MRS[c][b] for c in m["channels"] for b in bands]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def _element(token: str, instrument: str | None) -> tuple[float, float] | None:
    """One optical element's band: the instrument's own entry first, then any instrument's."""
    if instrument and token in _BANDS.get(instrument, {}):
        return _BANDS[instrument][token]
    for table in _BANDS.values():  # NIRCam's first: the shared names are NIRCam's filters
        if token in table:
            return table[token]
    return None


def band(filter_or_optics: str | None, instrument: str | None = None
         ) -> tuple[float, float] | None:
    """The wavelength band ``(min, max)`` in microns of a JWST filter, disperser or the
    optics of an exposure; None when no element named is known.

    Accepts one element (``"F090W"``, ``"G395H"``, ``"P750L"``) or the combinations file
    names, headers and MAST write: ``"CLEAR-F090W"``, ``"F444W-F405N"`` (a narrow filter in
    the pupil wheel behind a wide one: the band is their overlap, F405N's),
    ``"G395H/F290LP"``, ``"F405N;F444W"``, MIRI MRS ``"CH1-SHORT"``. Case-insensitive;
    pupils, masks and grisms that do not shape the band (CLEAR, GRISMR, MASKRND, NRM...) are
    skipped. ``instrument`` picks that instrument's values for names several share.

    >>> band("CLEAR-F090W", "nircam")
    (0.804, 0.998)
    """
    if not filter_or_optics or not filter_or_optics.strip():
        return None
    instrument = instrument.strip().lower() if instrument else None
    text = filter_or_optics.strip().upper()
    if (found := _mrs_band(text.replace(" ", ""))) is not None:
        return found
    tokens = [t for t in _SEPARATORS.split(text) if t]
    if tokens == ["CLEAR"]:  # an empty filter slot: a band only for NIRSpec (its prism)
        return _BANDS["nirspec"]["CLEAR"] if instrument == "nirspec" else None
    if len(tokens) == 1:
        return _element(tokens[0], instrument)
    known = set(tokens)
    for pair, limits in _NIRSPEC_PAIRS.items():
        if pair <= known:
            return limits
    bands = [b for t in tokens if t != "CLEAR" and (b := _element(t, instrument)) is not None]
    if not bands:
        return None
    low, high = max(b[0] for b in bands), min(b[1] for b in bands)
    if low >= high:  # elements that share no light: the narrowest one named
        return min(bands, key=lambda b: b[1] - b[0])
    return low, high
