"""VOTable round trip: astropy reads back the same positions, regions, units, UCDs, utypes."""

from __future__ import annotations

import numpy as np
from astropy.io.votable import parse

from jwstnb.interop import obscore, votable
from tests.unit.interop_records import records


def test_round_trip_keeps_positions_regions_and_metadata(tmp_path) -> None:
    recs = records()
    table = obscore.table(recs, authority="archive.example.org")
    path = tmp_path / "obscore.xml"
    votable.write(table, path)
    back = votable.read(path)
    assert back.colnames == table.colnames
    for record, row in zip(recs, back, strict=True):
        info = record.image_info
        assert row["s_ra"] == info.ra and row["s_dec"] == info.dec
        if info.footprint is None:
            assert not row["s_region"]  # VOTable writes a missing string as empty
        else:
            assert row["s_region"] == info.footprint
    for name in table.colnames:
        assert back[name].unit == table[name].unit, name
        assert back[name].meta.get("ucd") == table[name].meta.get("ucd"), name
        assert back[name].meta.get("utype") == table[name].meta.get("utype"), name
    assert np.array_equal(back["calib_level"], table["calib_level"])
    # and astropy's own reader, without jwstnb, sees the UCDs on the FIELDs
    fields = {f.name: f for f in parse(str(path)).get_first_table().fields}
    assert fields["s_ra"].ucd == "pos.eq.ra" and fields["s_ra"].unit == "deg"
    assert fields["s_region"].utype == "obscore:Char.SpatialAxis.Coverage.Support.Area"


def test_bytes_and_skycoord_columns() -> None:
    from astropy.coordinates import SkyCoord

    table = obscore.table(records()[:2], authority="a.b")
    table["coord"] = SkyCoord(table["s_ra"], table["s_dec"], unit="deg")
    data = votable.to_bytes(table)
    assert data.startswith(b"<?xml")
    back = votable.read(data)
    assert "coord" not in back.colnames and list(back["s_ra"]) == list(table["s_ra"])
