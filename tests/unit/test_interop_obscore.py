"""ObsCore tables: the standard's column names, units, UCDs and utypes (written out here from
the IVOA ObsCore 1.1 Recommendation, its table of mandatory fields), and the values jwstnb
puts in them."""

from __future__ import annotations

import math

import pytest

from jwstnb.interop import obscore
from tests.unit.interop_records import records

# name: (unit, UCD, utype) as ObsCore 1.1 gives them (None: no unit).
OBSCORE_1_1 = {
    "dataproduct_type": (None, "meta.code.class", "obscore:ObsDataset.dataProductType"),
    "calib_level": (None, "meta.code;obs.calib", "obscore:ObsDataset.calibLevel"),
    "obs_collection": (None, "meta.id", "obscore:DataID.Collection"),
    "obs_id": (None, "meta.id", "obscore:DataID.observationID"),
    "obs_publisher_did": (None, "meta.ref.ivoid", "obscore:Curation.PublisherDID"),
    "access_url": (None, "meta.ref.url", "obscore:Access.Reference"),
    "access_format": (None, "meta.code.mime", "obscore:Access.Format"),
    "access_estsize": ("kbyte", "phys.size;meta.file", "obscore:Access.Size"),
    "target_name": (None, "meta.id;src", "obscore:Target.Name"),
    "s_ra": ("deg", "pos.eq.ra",
             "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C1"),
    "s_dec": ("deg", "pos.eq.dec",
              "obscore:Char.SpatialAxis.Coverage.Location.Coord.Position2D.Value2.C2"),
    "s_fov": ("deg", "phys.angSize;instr.fov",
              "obscore:Char.SpatialAxis.Coverage.Bounds.Extent.diameter"),
    "s_region": (None, "pos.outline;obs.field", "obscore:Char.SpatialAxis.Coverage.Support.Area"),
    "t_min": ("d", "time.start;obs.exposure",
              "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StartTime"),
    "t_max": ("d", "time.end;obs.exposure",
              "obscore:Char.TimeAxis.Coverage.Bounds.Limits.StopTime"),
    "t_exptime": ("s", "time.duration;obs.exposure",
                  "obscore:Char.TimeAxis.Coverage.Support.Extent"),
    "em_min": ("m", "em.wl;stat.min", "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.LoLimit"),
    "em_max": ("m", "em.wl;stat.max", "obscore:Char.SpectralAxis.Coverage.Bounds.Limits.HiLimit"),
    "facility_name": (None, "meta.id;instr.tel", "obscore:Provenance.ObsConfig.Facility.name"),
    "instrument_name": (None, "meta.id;instr", "obscore:Provenance.ObsConfig.Instrument.name"),
}
INTEGER = {"calib_level", "access_estsize"}
FLOAT = {"s_ra", "s_dec", "s_fov", "t_min", "t_max", "t_exptime", "em_min", "em_max"}


@pytest.fixture
def table():
    return obscore.table(records(), authority="archive.example.org")


def test_columns_follow_the_standard_then_jwstnb(table) -> None:
    names = table.colnames
    assert names[: len(OBSCORE_1_1)] == list(OBSCORE_1_1)
    assert names[len(OBSCORE_1_1):][:3] == ["id", "file_name", "file_path"]
    for name, (unit, ucd, utype) in OBSCORE_1_1.items():
        column = table[name]
        assert (str(column.unit) if column.unit is not None else None) == unit, name
        assert column.meta["ucd"] == ucd, name
        assert column.meta["utype"] == utype, name
        if name in INTEGER:
            assert column.dtype.kind == "i", name
        elif name in FLOAT:
            assert column.dtype.kind == "f", name
        else:
            assert column.dtype.kind == "U", name


def test_values(table) -> None:
    nircam, cube, x1d, cal, raw = table
    assert list(table["obs_collection"]) == ["JWST"] * 5
    assert list(table["dataproduct_type"]) == ["image", "cube", "spectrum", "image", "image"]
    assert list(table["calib_level"]) == [3, 3, 3, 2, 1]
    assert nircam["obs_id"] == "jw02733-o001_t001_nircam_clear-f090w"  # MAST's
    assert cube["obs_id"] == "jw01234-o005_t001_nirspec"  # the group
    assert raw["obs_id"] == "jw01000002001_02101_00001_nrca1"  # the product name
    assert nircam["obs_publisher_did"] == "ivo://archive.example.org/" + "0" * 23 + "1"
    assert nircam["access_format"] == "application/fits"
    assert nircam["access_estsize"] == 124  # 123,456 bytes, rounded up to kbyte
    assert table["access_estsize"].mask[4]  # no size known: masked, not 0
    assert nircam["s_ra"] == 151.757 and nircam["s_dec"] == -40.436
    assert nircam["s_region"].startswith("POLYGON ICRS 151.70")
    assert 0.1 < nircam["s_fov"] < 0.2
    assert table["s_region"].mask[4] and table["s_fov"].mask[4]
    assert nircam["t_min"] == 59742.1 and nircam["t_max"] == 59742.3  # MAST's times
    assert cube["t_min"] == pytest.approx(59800.0)
    assert cube["t_max"] == pytest.approx(59800.0 + 100 / 86400)
    assert nircam["t_exptime"] == 1288.5
    # bands in metres: F090W behind CLEAR, G395H/F290LP, the F405N in front of F444W
    assert (nircam["em_min"], nircam["em_max"]) == pytest.approx((0.804e-6, 0.998e-6))
    assert (cube["em_min"], cube["em_max"]) == pytest.approx((2.87e-6, 5.27e-6))
    assert (cal["em_min"], cal["em_max"]) == pytest.approx((4.032e-6, 4.078e-6))
    assert (x1d["em_min"], x1d["em_max"]) == pytest.approx((5.0e-6, 14.0e-6))
    assert table["em_min"].mask[4]  # no filter known
    assert list(table["instrument_name"]) == ["NIRCAM", "NIRSPEC", "MIRI", "NIRCAM", "NIRCAM"]
    assert nircam["facility_name"] == "JWST"
    assert nircam["id"] == "0" * 23 + "1" and nircam["processing_level"] == "L3"


def test_access_url_from_storage_function_or_mast(tmp_path) -> None:
    from jwstnb.storage import Storage

    recs = records()
    storage = Storage(tmp_path.as_uri())
    from_storage = obscore.table(recs, access_url=storage, authority="a.b")
    assert from_storage["access_url"][1] == f"{tmp_path.as_uri()}/{recs[1].file_path}"
    signed = obscore.table(recs, access_url=lambda r: f"https://x/{r.id}?sig=1", authority="a.b")
    assert signed["access_url"][0] == f"https://x/{recs[0].id}?sig=1"
    recs[0].metadata["cloud_uri"] = "s3://stpubdata/jwst/public/x_i2d.fits"
    default = obscore.table(recs, authority="a.b")
    assert default["access_url"][0] == "s3://stpubdata/jwst/public/x_i2d.fits"
    assert default["access_url"].mask[1]
    with pytest.raises(ValueError, match="access_url"):
        obscore.table(recs, access_url=42)


def test_authority_from_config(monkeypatch) -> None:
    monkeypatch.setenv("JWSTNB_PUBLISHER_AUTHORITY", "team.example.org")
    assert obscore.table(records()[:1])["obs_publisher_did"][0].startswith(
        "ivo://team.example.org/")
    monkeypatch.delenv("JWSTNB_PUBLISHER_AUTHORITY")
    monkeypatch.setenv("JWSTNB_CONFIG", "/nonexistent/jwstnb.toml")
    assert obscore.table(records()[:1])["obs_publisher_did"][0].startswith("ivo://jwstnb.local/")


def test_empty_and_unknown_values() -> None:
    empty = obscore.table([], authority="a.b")
    assert len(empty) == 0 and empty.colnames == list(obscore.column_names())
    assert not any(math.isnan(v) for v in obscore.table(records(), authority="a.b")["s_ra"])
