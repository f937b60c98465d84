"""A small, deterministic, SYNTHETIC JWST data set for tutorials, demos and tests.

:func:`write_sample` writes (through any :class:`jwstnb.storage.Storage`) about 1.5 MB of
files shaped like real JWST products, and returns the MAST observation and product rows
(astroquery column names) that describe them:

- a NIRCam imaging observation of NGC-3132 in program 2733 (``jw02733-o001_t001_nircam``,
  F090W/CLEAR): two exposures x two detectors (nrca1, nrcb1), each with uncal, rate, cal
  and crf; the image3 association (asn.json) naming the four cal members and the product;
  the i2d mosaic, its source catalog (cat.ecsv) and segmentation map (segm);
- a NIRSpec fixed-slit exposure of WASP-39 in program 1366 (its own observation,
  ``jw01366-o004_t001_nirspec``) with rate, cal, s2d and x1d.

Every calibrated file's primary header says how it was made, as the pipeline writes it:
``CAL_VER``, ``CRDS_VER``, ``CRDS_CTX`` and the ``R_*`` reference files its steps used.
Two files are stale: the cal files of the first NIRCam exposure (:data:`STALE_FILES`) were
made with an older pipeline and CRDS context (:data:`OLDER_CONTEXT`, other dark, flat and
photom references) than the rest of the sample (:data:`CURRENT_CONTEXT`). MAST's product
rows carry each file's pipeline version as ``prvversion``.

Keys follow MAST's layout, ``mast/{obs_id}/{file}``, with the stage-2 files of an observation
under its stage-3 obs_id folder. Positions are real (NGC 3132 at RA 151.7573, Dec -40.4364;
WASP-39 at RA 217.3267, Dec -3.4445): every image's science header carries its footprint as
``S_REGION`` (drawn from its WCS; the NIRSpec slit's from a WCS of the aperture), and the
observation rows carry ``s_ra``/``s_dec``/``s_region`` as MAST writes them. The pixels are
made up (a ring nebula and stars rendered through each file's WCS), the pixel scale is coarse
so a 64x64 image shows the whole nebula, and every file says so: ``SYNTHETC = T`` in FITS
primary headers, a ``synthetic`` entry in the ECSV metadata and the association. Nothing here
is real JWST data.
"""

from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from jwstnb.session import Session
    from jwstnb.storage import Storage

__all__ = [
    "CURRENT_CONTEXT",
    "NIRCAM_OBSERVATION",
    "NIRCAM_OBS_ID",
    "NIRSPEC_OBSERVATION",
    "NIRSPEC_OBS_ID",
    "OLDER_CONTEXT",
    "STALE_FILES",
    "SYNTHETIC_NOTE",
    "Sample",
    "sample_files",
    "seed",
    "write_sample",
]

#: The lineage group (observationBaseId) of the NIRCam observation.
NIRCAM_OBSERVATION = "jw02733-o001_t001_nircam"
#: Its MAST obs_id (the folder its files live in).
NIRCAM_OBS_ID = "jw02733-o001_t001_nircam_clear-f090w"
NIRSPEC_OBSERVATION = "jw01366-o004_t001_nirspec"
NIRSPEC_OBS_ID = "jw01366-o004_t001_nirspec_f290lp-g395h"
SYNTHETIC_NOTE = "jwstnb synthetic sample: made-up pixels, not real JWST data"

_NIRCAM_EXPOSURES = ("jw02733001001_02101_00001", "jw02733001001_02101_00002")
_NIRCAM_DETECTORS = ("nrca1", "nrcb1")

#: The CRDS context most of the sample was calibrated with, and the older one of its two
#: stale files.
CURRENT_CONTEXT = "jwst_1225.pmap"
OLDER_CONTEXT = "jwst_1100.pmap"
#: The sample's files calibrated with :data:`OLDER_CONTEXT` (an older pipeline too).
STALE_FILES = tuple(f"{_NIRCAM_EXPOSURES[0]}_{d}_cal.fits" for d in _NIRCAM_DETECTORS)
# (CAL_VER, CRDS_VER) of each context's run.
_VERSIONS = {CURRENT_CONTEXT: ("1.14.0", "11.17.19"), OLDER_CONTEXT: ("1.11.4", "11.16.21")}
# Reference files by R_* keyword and instrument: (current, older) sequence numbers. The
# detector-level ones are used by every calibrated file, the others by stage 2 and 3 only.
_REFERENCES: dict[str, dict[str, tuple[str, tuple[int, int]]]] = {
    "nircam": {
        "R_DARK": ("dark", (342, 302)), "R_GAIN": ("gain", (97, 97)),
        "R_LINEAR": ("linearity", (52, 52)), "R_MASK": ("mask", (71, 71)),
        "R_READNO": ("readnoise", (36, 36)), "R_SATURA": ("saturation", (93, 93)),
        "R_SUPERB": ("superbias", (131, 131)),
        "R_AREA": ("area", (32, 32)), "R_DISTOR": ("distortion", (173, 150)),
        "R_FLAT": ("flat", (560, 476)), "R_PHOTOM": ("photom", (157, 114)),
    },
    "nirspec": {
        "R_DARK": ("dark", (384, 384)), "R_GAIN": ("gain", (23, 23)),
        "R_LINEAR": ("linearity", (24, 24)), "R_MASK": ("mask", (36, 36)),
        "R_READNO": ("readnoise", (24, 24)), "R_SATURA": ("saturation", (28, 28)),
        "R_SUPERB": ("superbias", (427, 427)),
        "R_DFLAT": ("dflat", (1, 1)), "R_FFLAT": ("fflat", (105, 105)),
        "R_SFLAT": ("sflat", (187, 187)), "R_PHOTOM": ("photom", (18, 18)),
        "R_PTHLOS": ("pathloss", (20, 20)), "R_WAVRAN": ("wavelengthrange", (3, 3)),
    },
}
_DETECTOR_REFERENCES = frozenset(
    {"R_DARK", "R_GAIN", "R_LINEAR", "R_MASK", "R_READNO", "R_SATURA", "R_SUPERB"}
)
_NIRCAM_PRODUCT = NIRCAM_OBS_ID
_ASN_NAME = "jw02733-o001_20220707t165838_image3_001_asn.json"
_NIRSPEC_EXPOSURE = "jw01366004001_04101_00001"
# NGC 3132 (the Southern Ring) and WASP-39.
_NGC3132 = (151.757250, -40.436389)
_WASP39 = (217.326708, -3.444500)
_MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
_START = {
    "jw02733001001_02101_00001": datetime(2022, 6, 3, 11, 54, 53, tzinfo=UTC),
    "jw02733001001_02101_00002": datetime(2022, 6, 3, 12, 17, 26, tzinfo=UTC),
    _NIRSPEC_EXPOSURE: datetime(2022, 7, 30, 20, 46, 12, tzinfo=UTC),
}
_EFFEXPTM = 1245.465
_NIRSPEC_EFFEXPTM = 2101.35
# The NIRCam mosaic's pixel grid (shape, arcsec per pixel), and the NIRSpec fixed slit
# S1600A1 (1.6" square) as a 16 x 16 grid of 0.1" at a made-up position angle.
_MOSAIC = ((128, 128), 0.8)
_SLIT = ((16, 16), 0.1, 69.4)


@dataclass
class Sample:
    """What :func:`write_sample` wrote: the storage keys, and the MAST rows describing them.

    ``product_rows`` is one flat list; each row's ``obs_id`` is the observation it was
    listed under (so ``[p for p in product_rows if p["obs_id"] == obs["obs_id"]]`` gives an
    observation's products) and ``parent_obsid`` that observation's ``obsid``.
    """

    keys: list[str]
    observation_rows: list[dict[str, Any]]
    product_rows: list[dict[str, Any]]
    sizes: dict[str, int] = field(default_factory=dict)

    def products_of(self, obs_id: str) -> list[dict[str, Any]]:
        """The product rows of one observation."""
        return [p for p in self.product_rows if p["obs_id"] == obs_id]

    def keys_of(self, obs_id: str) -> list[str]:
        """The keys under one observation's folder."""
        return [k for k in self.keys if k.startswith(f"mast/{obs_id}/")]


def _mjd(when: datetime) -> float:
    return round((when - _MJD_EPOCH) / timedelta(days=1), 6)


def _seed(name: str) -> int:
    return zlib.crc32(name.encode())


# --- the made-up sky --------------------------------------------------------------------------


def _stars(center: tuple[float, float], n: int, seed: int) -> list[tuple[float, float, float]]:
    """(ra, dec, peak MJy/sr) of field stars around ``center``, always the same."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ra0, dec0 = center
    cosd = np.cos(np.radians(dec0))
    out = []
    for _ in range(n):
        dx, dy = rng.uniform(-50, 50, 2) / 3600.0
        out.append((ra0 + dx / cosd, dec0 + dy, float(rng.uniform(5, 80))))
    return out


_NEBULA_STARS = None


def _sky(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Surface brightness (MJy/sr) of a synthetic ring nebula with stars, at (ra, dec) deg."""
    import numpy as np

    global _NEBULA_STARS
    if _NEBULA_STARS is None:
        _NEBULA_STARS = _stars(_NGC3132, 24, 3132)
    ra0, dec0 = _NGC3132
    cosd = np.cos(np.radians(dec0))
    x = (ra - ra0) * cosd * 3600.0  # arcsec east
    y = (dec - dec0) * 3600.0  # arcsec north
    # an elliptical ring, tilted, with a faint halo and a bright central star
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    u, v = x * c + y * s, -x * s + y * c
    r = np.hypot(u / 1.0, v / 0.7)
    sky = 0.2 + 6.0 * np.exp(-0.5 * ((r - 22.0) / 4.0) ** 2) + 1.2 * np.exp(-r / 30.0)
    sky += 120.0 * np.exp(-0.5 * (np.hypot(x, y) / 0.9) ** 2)
    for sra, sdec, peak in _NEBULA_STARS:
        dx = (ra - sra) * cosd * 3600.0
        dy = (dec - sdec) * 3600.0
        sky += peak * np.exp(-0.5 * (dx * dx + dy * dy) / 0.8**2)
    image: np.ndarray = np.asarray(sky, dtype=np.float32)
    return image


def _wcs_cards(
    center: tuple[float, float], shape: tuple[int, int], scale_arcsec: float, angle: float = 0.0
) -> dict[str, Any]:
    """A TAN celestial WCS centred on ``center`` (deg) with square pixels."""
    import numpy as np

    ny, nx = shape
    scale = scale_arcsec / 3600.0
    a = np.radians(angle)
    cards: dict[str, Any] = {
        "WCSAXES": 2,
        "RADESYS": "ICRS",
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CUNIT1": "deg",
        "CUNIT2": "deg",
        "CRPIX1": (nx + 1) / 2.0,
        "CRPIX2": (ny + 1) / 2.0,
        "CRVAL1": round(center[0], 7),
        "CRVAL2": round(center[1], 7),
        "CDELT1": -scale,
        "CDELT2": scale,
        "PC1_1": round(float(np.cos(a)), 9),
        "PC1_2": round(float(-np.sin(a)), 9),
        "PC2_1": round(float(np.sin(a)), 9),
        "PC2_2": round(float(np.cos(a)), 9),
    }
    cards["S_REGION"] = _region(cards, shape)
    return cards


def _wcs_of(cards: dict[str, Any]) -> Any:
    """The astropy WCS of a card dict made by :func:`_wcs_cards`."""
    from astropy.io import fits
    from astropy.wcs import WCS

    header = fits.Header()
    for k, v in cards.items():
        if k != "S_REGION":
            header[k] = v
    return WCS(header)


def _region(cards: dict[str, Any], shape: tuple[int, int]) -> str:
    """The footprint of an image with this WCS, as the pipeline writes ``S_REGION`` and MAST
    ``s_region``: the polygon through the outer pixel edges' corners, in ICRS degrees."""
    ny, nx = shape
    xs = [-0.5, nx - 0.5, nx - 0.5, -0.5]
    ys = [-0.5, -0.5, ny - 0.5, ny - 0.5]
    ras, decs = _wcs_of(cards).pixel_to_world_values(xs, ys)
    return "POLYGON ICRS " + " ".join(
        f"{float(r) % 360.0:.7f} {float(d):.7f}" for r, d in zip(ras, decs, strict=True)
    )


def _render(cards: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """The sky sampled at every pixel of a WCS (no noise)."""
    import numpy as np

    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    ra, dec = _wcs_of(cards).pixel_to_world_values(xx, yy)
    return _sky(ra, dec)


# --- headers ----------------------------------------------------------------------------------


def _primary(fields: dict[str, Any], filename: str, datamodel: str) -> Any:
    from astropy.io import fits

    hdu = fits.PrimaryHDU()
    h = hdu.header
    h["DATE"] = ("2022-07-08T10:21:17.000", "UTC date file created")
    h["ORIGIN"] = ("STSCI", "Organization responsible for creating file")
    h["TIMESYS"] = ("UTC", "principal time system for time-related keywords")
    h["FILENAME"] = (filename, "Name of the file")
    h["FILETYPE"] = (fields.pop("FILETYPE", "calibrated"), "Type of data in the file")
    h["DATAMODL"] = (datamodel, "Type of data model")
    h["TELESCOP"] = ("JWST", "Telescope used to acquire the data")
    h["SYNTHETC"] = (True, "jwstnb synthetic sample, NOT real JWST data")
    comments = {
        "INSTRUME": "Instrument used to acquire the data",
        "DETECTOR": "Name of detector used to acquire the data",
        "FILTER": "Name of the filter element used",
        "PUPIL": "Name of the pupil element used",
        "GRATING": "Name of the grating element used",
        "TARGNAME": "Standard astronomical catalog name for target",
        "TARGPROP": "Proposer's name for the target",
        "TARG_RA": "Target RA at mid time of exposure",
        "TARG_DEC": "Target Dec at mid time of exposure",
        "TITLE": "Proposal title",
        "PI_NAME": "Principal investigator name",
        "PROGRAM": "JWST program number",
        "OBSERVTN": "Observation number",
        "VISIT": "Visit number",
        "VISIT_ID": "Visit identifier",
        "OBS_ID": "Programmatic observation identifier",
        "EXPOSURE": "Exposure request number",
        "EXP_TYPE": "Type of data in the exposure",
        "DATE-OBS": "[yyyy-mm-dd] UTC date at start of exposure",
        "TIME-OBS": "[hh:mm:ss.sss] UTC time at start of exposure",
        "EXPSTART": "[d] exposure start time in MJD",
        "EXPEND": "[d] exposure end time in MJD",
        "EFFEXPTM": "[s] Effective exposure time",
        "CAL_VER": "Calibration software version number",
    }
    for key, value in fields.items():
        comment = comments.get(key, "")
        h[key] = (value, comment) if len(repr(value)) + len(comment) < 62 else value
    h["COMMENT"] = SYNTHETIC_NOTE + "."
    h["COMMENT"] = "Generated by jwstnb.samples for tutorials and tests; do not use for science."
    return hdu


def _image(name: str, data: Any, bunit: str | None, wcs: dict[str, Any] | None = None) -> Any:
    from astropy.io import fits

    hdu = fits.ImageHDU(data, name=name)
    if bunit:
        hdu.header["BUNIT"] = (bunit, "physical units of the array values")
    for key, value in (wcs or {}).items():
        hdu.header[key] = value
    return hdu


def _to_bytes(hdus: list[Any]) -> bytes:
    from astropy.io import fits

    out = io.BytesIO()
    fits.HDUList(hdus).writeto(out, output_verify="silentfix")
    return out.getvalue()


def _context_of(filename: str) -> str:
    return OLDER_CONTEXT if filename in STALE_FILES else CURRENT_CONTEXT


def _provenance(instrument: str, filename: str, suffix: str) -> dict[str, Any]:
    """The pipeline's provenance keywords of a calibrated file (none for a raw ``uncal``):
    versions, context, and the reference files its steps used (``N/A`` where a step of the
    stage used none, as the pipeline writes it)."""
    if suffix == "uncal":
        return {}
    context = _context_of(filename)
    cal_ver, crds_ver = _VERSIONS[context]
    older = context == OLDER_CONTEXT
    out: dict[str, Any] = {"CAL_VER": cal_ver, "CRDS_VER": crds_ver, "CRDS_CTX": context}
    for keyword, (reftype, numbers) in _REFERENCES[instrument].items():
        if suffix in ("rate", "rateints") and keyword not in _DETECTOR_REFERENCES:
            continue
        number = numbers[1] if older else numbers[0]
        out[keyword] = f"crds://jwst_{instrument}_{reftype}_{number:04d}.fits"
    if suffix not in ("rate", "rateints"):
        out["R_FRINGE"] = "N/A"
    return out


# --- the NIRCam observation -------------------------------------------------------------------


def _nircam_fields(exposure: str, detector: str, filename: str, filetype: str) -> dict[str, Any]:
    start = _START[exposure]
    expo = exposure.rsplit("_", 1)[1]
    return {
        "FILETYPE": filetype,
        "INSTRUME": "NIRCAM",
        "DETECTOR": detector.upper(),
        "MODULE": detector[3].upper(),
        "CHANNEL": "SHORT",
        "FILTER": "F090W",
        "PUPIL": "CLEAR",
        "TARGNAME": "NGC-3132",
        "TARGPROP": "NGC3132",
        "TARG_RA": _NGC3132[0],
        "TARG_DEC": _NGC3132[1],
        "TITLE": "Early Release Observations - NGC 3132 (jwstnb synthetic sample)",
        "PI_NAME": "Pontoppidan, Klaus",
        "PROGRAM": "02733",
        "OBSERVTN": "001",
        "VISIT": "001",
        "VISIT_ID": "02733001001",
        "OBS_ID": f"V02733001001P0000000002101_{expo}",
        "VISITGRP": "02",
        "SEQ_ID": "1",
        "ACT_ID": "01",
        "EXPOSURE": expo,
        "EXP_TYPE": "NRC_IMAGE",
        "DATE-OBS": start.strftime("%Y-%m-%d"),
        "TIME-OBS": start.strftime("%H:%M:%S.%f")[:12],
        "EXPSTART": _mjd(start),
        "EXPEND": _mjd(start + timedelta(seconds=_EFFEXPTM + 20)),
        "EFFEXPTM": _EFFEXPTM,
        "NINTS": 1,
        "NGROUPS": 3,
        **_provenance("nircam", filename, _suffix(filename)),
    }


def _suffix(filename: str) -> str:
    from jwstnb.naming import classify

    return classify(filename).suffix if filename else "i2d"


def _detector_wcs(exposure: str, detector: str) -> dict[str, Any]:
    import numpy as np

    ra0, dec0 = _NGC3132
    cosd = np.cos(np.radians(dec0))
    offset = -18.0 if detector == "nrca1" else 18.0  # arcsec east of the centre
    dither = (0.0, 0.0) if exposure.endswith("00001") else (1.5, 1.0)
    ra = ra0 + (offset + dither[0]) / 3600.0 / cosd
    dec = dec0 + dither[1] / 3600.0
    return _wcs_cards((ra, dec), (64, 64), 1.0, angle=0.5)


def _nircam_files() -> dict[str, bytes]:
    import numpy as np

    files: dict[str, bytes] = {}
    shape = (64, 64)
    for exposure in _NIRCAM_EXPOSURES:
        for detector in _NIRCAM_DETECTORS:
            base = f"{exposure}_{detector}"
            rng = np.random.default_rng(_seed(base))
            wcs = _detector_wcs(exposure, detector)
            sky = _render(wcs, shape)  # MJy/sr
            noise = rng.normal(0.0, 0.05, shape).astype(np.float32)
            cal = sky + noise
            dn_per_s = cal * 3.2  # photometric conversion, made up
            dq = np.zeros(shape, dtype=np.uint32)
            hot = rng.integers(0, 64, (3, 2))
            dq[hot[:, 0], hot[:, 1]] = 1 | 2048
            err = np.sqrt(np.abs(cal) * 0.01 + 0.05**2).astype(np.float32)

            # uncal: 4-D ramp (nints, ngroups, ny, nx) of uint16 DN
            name = f"{base}_uncal.fits"
            tgroup = _EFFEXPTM / 3
            ramp = np.stack(
                [12000 + dn_per_s * tgroup * (g + 1) / 40 for g in range(3)]
            )[None]
            ramp = np.clip(ramp + rng.normal(0, 4, ramp.shape), 0, 65535).astype(np.uint16)
            files[name] = _to_bytes([
                _primary(_nircam_fields(exposure, detector, name, "uncalibrated"), name,
                         "Level1bModel"),
                _image("SCI", ramp, "DN", wcs),
                _image("GROUPDQ", np.zeros(ramp.shape, np.uint8), None),
            ])
            # rate: DN/s
            name = f"{base}_rate.fits"
            files[name] = _to_bytes([
                _primary(_nircam_fields(exposure, detector, name, "countrate"), name,
                         "ImageModel"),
                _image("SCI", dn_per_s.astype(np.float32), "DN/s", wcs),
                _image("ERR", (err * 3.2).astype(np.float32), "DN/s", wcs),
                _image("DQ", dq, None, wcs),
            ])
            # cal: MJy/sr
            name = f"{base}_cal.fits"
            files[name] = _to_bytes([
                _primary(_nircam_fields(exposure, detector, name, "calibrated"), name,
                         "ImageModel"),
                _image("SCI", cal.astype(np.float32), "MJy/sr", wcs),
                _image("ERR", err, "MJy/sr", wcs),
                _image("DQ", dq, None, wcs),
                _image("AREA", np.ones(shape, np.float32), None, wcs),
            ])
            # crf: cal with outliers flagged by image3's outlier detection
            name = f"{base}_o001_crf.fits"
            crf_dq = dq.copy()
            hits = rng.integers(0, 64, (4, 2))
            crf_dq[hits[:, 0], hits[:, 1]] |= 16  # OUTLIER
            files[name] = _to_bytes([
                _primary(_nircam_fields(exposure, detector, name, "calibrated"), name,
                         "ImageModel"),
                _image("SCI", cal.astype(np.float32), "MJy/sr", wcs),
                _image("ERR", err, "MJy/sr", wcs),
                _image("DQ", crf_dq, None, wcs),
            ])

    # the stage-3 products
    shape3, scale3 = _MOSAIC
    wcs3 = _wcs_cards(_NGC3132, shape3, scale3)
    sky = _render(wcs3, shape3)
    rng = np.random.default_rng(_seed(_NIRCAM_PRODUCT))
    i2d = (sky + rng.normal(0.0, 0.03, shape3)).astype(np.float32)
    fields = _nircam_fields(_NIRCAM_EXPOSURES[0], "nrca1", "", "calibrated")
    fields.update(DETECTOR="MULTIPLE", MODULE="MULTIPLE", EXPOSURE="00001",
                  OBS_ID="V02733001001P0000000002101")
    fields.pop("NGROUPS")
    end = _START[_NIRCAM_EXPOSURES[-1]] + timedelta(seconds=_EFFEXPTM + 20)
    fields["EXPEND"] = _mjd(end)
    fields["EFFEXPTM"] = 2 * _EFFEXPTM
    name = f"{_NIRCAM_PRODUCT}_i2d.fits"
    files[name] = _to_bytes([
        _primary(dict(fields, FILENAME=name), name, "ImageModel"),
        _image("SCI", i2d, "MJy/sr", wcs3),
        _image("ERR", np.full(shape3, 0.03, np.float32), "MJy/sr", wcs3),
        _image("CON", np.ones((1, *shape3), np.int32), None, wcs3),
        _image("WHT", np.full(shape3, 2.0, np.float32), None, wcs3),
    ])
    # segmentation map and catalogue from simple thresholding of the mosaic
    segm, table = _segment(i2d, wcs3)
    name = f"{_NIRCAM_PRODUCT}_segm.fits"
    files[name] = _to_bytes([
        _primary(dict(fields, FILENAME=name), name, "SegmentationMapModel"),
        _image("SCI", segm, None, wcs3),
    ])
    files[f"{_NIRCAM_PRODUCT}_cat.ecsv"] = table
    files[_ASN_NAME] = _asn()
    return files


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Label 4-connected regions of ``mask`` 1..n in scan order (a tiny flood fill)."""
    import numpy as np

    labels = np.zeros(mask.shape, dtype=np.int32)
    ny, nx = mask.shape
    count = 0
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if labels[y0, x0]:
            continue
        count += 1
        stack = [(int(y0), int(x0))]
        labels[y0, x0] = count
        while stack:
            y, x = stack.pop()
            for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= yy < ny and 0 <= xx < nx and mask[yy, xx] and not labels[yy, xx]:
                    labels[yy, xx] = count
                    stack.append((yy, xx))
    return labels, count


def _segment(image: np.ndarray, cards: dict[str, Any]) -> tuple[np.ndarray, bytes]:
    """A segmentation map (connected pixels above a threshold) and an ECSV source catalog."""
    import numpy as np
    from astropy.table import Table

    labels, count = _label(image > 15.0)
    wcs = _wcs_of(cards)
    rows = []
    for label in range(1, count + 1):
        ys, xs = np.nonzero(labels == label)
        flux = image[ys, xs]
        xc = float((xs * flux).sum() / flux.sum())
        yc = float((ys * flux).sum() / flux.sum())
        ra, dec = wcs.pixel_to_world_values(xc, yc)
        rows.append((label, xc, yc, float(ra), float(dec), len(xs), float(flux.sum())))
    table = Table(
        rows=rows,
        names=("label", "xcentroid", "ycentroid", "ra", "dec", "area", "aper_total_flux"),
        dtype=(np.int32, np.float64, np.float64, np.float64, np.float64, np.int32, np.float64),
    )
    table["ra"].unit = "deg"
    table["dec"].unit = "deg"
    table["area"].unit = "pix2"
    table["aper_total_flux"].unit = "MJy/sr"
    table.meta.update({
        "synthetic": True,
        "note": SYNTHETIC_NOTE,
        "program": "02733",
        "filter": "F090W",
        "target": "NGC-3132",
    })
    out = io.StringIO()
    table.write(out, format="ascii.ecsv")
    return labels, out.getvalue().encode()


def _asn() -> bytes:
    members = [
        {
            "expname": f"{exposure}_{detector}_cal.fits",
            "exptype": "science",
            "exposerr": "null",
            "asn_candidate": "[('o001', 'observation')]",
        }
        for exposure in _NIRCAM_EXPOSURES
        for detector in _NIRCAM_DETECTORS
    ]
    asn = {
        "asn_type": "image3",
        "asn_rule": "candidate_Asn_Lv3Image",
        "version_id": "20220707t165838",
        "code_version": "1.14.0",
        "degraded_status": "No known degraded exposures in association.",
        "program": "02733",
        "constraints": "DMSAttrConstraint({'name': 'program', 'sources': ['program'], "
        "'value': '2733'})",
        "asn_id": "o001",
        "target": "t001",
        "asn_pool": "jw02733_20220707t165838_pool.csv",
        "synthetic": SYNTHETIC_NOTE,
        "products": [{"name": _NIRCAM_PRODUCT, "members": members}],
    }
    return (json.dumps(asn, indent=4) + "\n").encode()


# --- the NIRSpec exposure ---------------------------------------------------------------------


def _slit_region() -> str:
    """The footprint of the fixed slit on the sky (drawn from a WCS of the aperture)."""
    shape, scale, angle = _SLIT
    return str(_wcs_cards(_WASP39, shape, scale, angle)["S_REGION"])


def _nirspec_files() -> dict[str, bytes]:
    import numpy as np
    from astropy.io import fits

    start = _START[_NIRSPEC_EXPOSURE]
    rng = np.random.default_rng(_seed(_NIRSPEC_EXPOSURE))
    wave = np.linspace(2.87, 5.14, 256)
    # a stellar continuum with a few absorption lines (made up)
    flux = 0.012 * (wave / 3.0) ** -1.8
    for line, depth in ((3.3, 0.15), (4.3, 0.3), (4.6, 0.1)):
        flux *= 1 - depth * np.exp(-0.5 * ((wave - line) / 0.02) ** 2)
    ny = 32
    profile = np.exp(-0.5 * ((np.arange(ny) - 15.5) / 1.6) ** 2)
    trace = (profile[:, None] * flux[None, :] * 2000).astype(np.float32)

    def fields(name: str, filetype: str) -> dict[str, Any]:
        return {
            "FILETYPE": filetype,
            "INSTRUME": "NIRSPEC",
            "DETECTOR": "NRS1",
            "FILTER": "F290LP",
            "GRATING": "G395H",
            "FXD_SLIT": "S1600A1",
            "TARGNAME": "WASP-39",
            "TARGPROP": "WASP-39",
            "TARG_RA": _WASP39[0],
            "TARG_DEC": _WASP39[1],
            "TITLE": "Transiting Exoplanet Community ERS (jwstnb synthetic sample)",
            "PI_NAME": "Batalha, Natalie",
            "PROGRAM": "01366",
            "OBSERVTN": "004",
            "VISIT": "001",
            "VISIT_ID": "01366004001",
            "OBS_ID": "V01366004001P0000000004101_00001",
            "EXPOSURE": "00001",
            "EXP_TYPE": "NRS_FIXEDSLIT",
            "DATE-OBS": start.strftime("%Y-%m-%d"),
            "TIME-OBS": start.strftime("%H:%M:%S.%f")[:12],
            "EXPSTART": _mjd(start),
            "EXPEND": _mjd(start + timedelta(seconds=_NIRSPEC_EFFEXPTM + 30)),
            "EFFEXPTM": _NIRSPEC_EFFEXPTM,
            **_provenance("nirspec", name, _suffix(name)),
        }

    files: dict[str, bytes] = {}
    base = f"{_NIRSPEC_EXPOSURE}_nrs1"
    slit = {"S_REGION": _slit_region()}  # spectral images carry no celestial WCS, only this
    noise = rng.normal(0, 0.02, (ny, 256)).astype(np.float32)
    for suffix, filetype, unit, scale in (
        ("rate", "countrate", "DN/s", 1.0),
        ("cal", "calibrated", "MJy/sr", 0.8),
    ):
        name = f"{base}_{suffix}.fits"
        files[name] = _to_bytes([
            _primary(fields(name, filetype), name, "ImageModel"),
            _image("SCI", (trace + noise) * scale, unit, slit),
            _image("ERR", np.full((ny, 256), 0.02, np.float32), unit),
            _image("DQ", np.zeros((ny, 256), np.uint32), None),
        ])
    name = f"{base}_s2d.fits"
    s2d = (trace[2:29] + noise[2:29]) * 0.8
    wavelength = np.broadcast_to(wave[None, :], s2d.shape).astype(np.float32)
    sci = _image("SCI", s2d, "MJy/sr", slit)
    sci.header["SLTNAME"] = "S1600A1"
    files[name] = _to_bytes([
        _primary(fields(name, "calibrated"), name, "MultiSlitModel"),
        sci,
        _image("ERR", np.full(s2d.shape, 0.02, np.float32), "MJy/sr"),
        _image("WAVELENGTH", wavelength, "um"),
    ])
    name = f"{base}_x1d.fits"
    columns = fits.ColDefs([
        fits.Column("WAVELENGTH", "D", unit="um", array=wave),
        fits.Column("FLUX", "D", unit="Jy", array=flux),
        fits.Column("FLUX_ERROR", "D", unit="Jy", array=np.full(256, 2e-4)),
        fits.Column("DQ", "J", array=np.zeros(256, np.int32)),
    ])
    table = fits.BinTableHDU.from_columns(columns, name="EXTRACT1D")
    table.header["SLTNAME"] = "S1600A1"
    files[name] = _to_bytes([
        _primary(fields(name, "calibrated"), name, "MultiSpecModel"),
        table,
    ])
    return files


# --- MAST rows ----------------------------------------------------------------------------------

_PRODUCT_GROUPS = {
    "uncal": ("SCIENCE", "UNCAL", 1),
    "rate": ("SCIENCE", "RATE", 2),
    "cal": ("SCIENCE", "CAL", 2),
    "crf": ("SCIENCE", "CRF", 2),
    "s2d": ("SCIENCE", "S2D", 2),
    "x1d": ("SCIENCE", "X1D", 2),
    "i2d": ("SCIENCE", "I2D", 3),
    "segm": ("AUXILIARY", "SEGM", 3),
    "cat": ("AUXILIARY", "CAT", 3),
    "asn": ("INFO", "ASN", 3),
}


def _observation_rows() -> list[dict[str, Any]]:
    nircam_start = _START[_NIRCAM_EXPOSURES[0]]
    nircam_end = _START[_NIRCAM_EXPOSURES[-1]] + timedelta(seconds=_EFFEXPTM + 20)
    nirspec_start = _START[_NIRSPEC_EXPOSURE]
    common = {
        "intentType": "science",
        "obs_collection": "JWST",
        "provenance_name": "CALJWST",
        "project": "JWST",
        "calib_level": 3,
        "wavelength_region": "INFRARED",
        "dataRights": "PUBLIC",
        "mtFlag": False,
        "srcDen": None,
        "objID": None,
    }
    return [
        dict(
            common,
            obsid="87602218",
            obs_id=NIRCAM_OBS_ID,
            dataproduct_type="image",
            instrument_name="NIRCAM/IMAGE",
            filters="F090W;CLEAR",
            target_name="NGC-3132",
            target_classification="Nebula; Planetary nebula",
            s_ra=_NGC3132[0],
            s_dec=_NGC3132[1],
            s_region=_wcs_cards(_NGC3132, *_MOSAIC)["S_REGION"],
            t_min=_mjd(nircam_start),
            t_max=_mjd(nircam_end),
            t_exptime=2 * _EFFEXPTM,
            t_obs_release=_mjd(datetime(2022, 7, 12, tzinfo=UTC)),
            em_min=795.0,
            em_max=1005.0,
            proposal_id="2733",
            proposal_pi="Pontoppidan, Klaus",
            proposal_type="DD",
            obs_title="Early Release Observations - NGC 3132 (jwstnb synthetic sample)",
            sequence_number=None,
            jpegURL=f"mast:JWST/product/{NIRCAM_OBS_ID}_i2d.jpg",
            dataURL=f"mast:JWST/product/{NIRCAM_OBS_ID}_i2d.fits",
        ),
        dict(
            common,
            obsid="87766105",
            obs_id=NIRSPEC_OBS_ID,
            dataproduct_type="spectrum",
            instrument_name="NIRSPEC/SLIT",
            filters="F290LP;G395H",
            target_name="WASP-39",
            target_classification="Star; Exoplanet host",
            s_ra=_WASP39[0],
            s_dec=_WASP39[1],
            s_region=_slit_region(),
            t_min=_mjd(nirspec_start),
            t_max=_mjd(nirspec_start + timedelta(seconds=_NIRSPEC_EFFEXPTM + 30)),
            t_exptime=_NIRSPEC_EFFEXPTM,
            t_obs_release=_mjd(datetime(2022, 7, 31, tzinfo=UTC)),
            em_min=2870.0,
            em_max=5140.0,
            proposal_id="1366",
            proposal_pi="Batalha, Natalie",
            proposal_type="ERS",
            obs_title="Transiting Exoplanet Community ERS (jwstnb synthetic sample)",
            sequence_number=None,
            jpegURL=None,
            dataURL=f"mast:JWST/product/{_NIRSPEC_EXPOSURE}_nrs1_x1d.fits",
        ),
    ]


def _product_rows(
    observations: list[dict[str, Any]], files: dict[str, dict[str, bytes]]
) -> list[dict[str, Any]]:
    from jwstnb.naming import classify

    rows: list[dict[str, Any]] = []
    for obs in observations:
        obs_id = obs["obs_id"]
        for filename, data in sorted(files[obs_id].items()):
            ident = classify(filename)
            product_type, subgroup, level = _PRODUCT_GROUPS[ident.suffix]
            if ident.exposure_id:  # a member exposure has its own (made-up) MAST obsID
                member_obsid = str(90000000 + _seed(f"{ident.exposure_id}_{ident.detector}")
                                   % 1000000)
            else:
                member_obsid = obs["obsid"]
            rows.append({
                "obsID": member_obsid,
                "obs_collection": "JWST",
                "dataproduct_type": obs["dataproduct_type"],
                "obs_id": obs_id,
                "description": f"{subgroup.lower()} product (jwstnb synthetic sample)",
                "type": "S",
                "dataURI": f"mast:JWST/product/{filename}",
                "productType": product_type,
                "productGroupDescription": "Minimum Recommended Products",
                "productSubGroupDescription": subgroup,
                "productDocumentationURL": "",
                "project": "CALJWST",
                "prvversion": _VERSIONS[_context_of(filename)][0],
                "proposal_id": obs["proposal_id"],
                "productFilename": filename,
                "size": len(data),
                "parent_obsid": obs["obsid"],
                "dataRights": "PUBLIC",
                "calib_level": level,
                "filters": obs["filters"],
            })
    return rows


def sample_files() -> dict[str, dict[str, bytes]]:
    """The sample's file contents by observation obs_id, then file name (deterministic)."""
    return {NIRCAM_OBS_ID: _nircam_files(), NIRSPEC_OBS_ID: _nirspec_files()}


def write_sample(storage: Storage, prefix: str = "mast/") -> Sample:
    """Write the synthetic sample under ``prefix`` (``{prefix}{obs_id}/{file}``) and return
    its keys and MAST rows. Deterministic and idempotent: the same bytes every time."""
    files = sample_files()
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    keys: list[str] = []
    sizes: dict[str, int] = {}
    for obs_id, contents in files.items():
        for filename, data in sorted(contents.items()):
            key = f"{prefix}{obs_id}/{filename}"
            storage.write_bytes(key, data)
            keys.append(key)
            sizes[key] = len(data)
    observations = _observation_rows()
    return Sample(
        keys=keys,
        observation_rows=observations,
        product_rows=_product_rows(observations, files),
        sizes=sizes,
    )


def seed(session: Session, storage: Storage) -> dict[str, Any]:
    """Write the sample to ``storage`` and import it from its MAST rows into ``session``.

    What ``jwstnb seed``, ``jwstnb demo``, Binder and the tutorials run. Idempotent: running
    it again updates the same records. Returns a small summary.
    """
    from jwstnb import ingest

    sample = write_sample(storage)
    pairs = [(row, sample.products_of(row["obs_id"])) for row in sample.observation_rows]
    report = ingest.import_mast_many(session, pairs, storage=storage, progress=False)
    records = len(report.imported) + len(report.updated) + len(report.skipped)
    return {
        "files": len(sample.keys),
        "records": records,
        "storage": storage.url,
        "observation": NIRCAM_OBSERVATION,
    }

