"""ObsCore tables and coverage maps through the session (DESIGN §11): the scope holds (a
private footprint is never in another user's MOC) and a VOTable written from a session's
table reads back with the records' positions and regions."""

from __future__ import annotations

import pytest

from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.session import Session

pytestmark = pytest.mark.integration

PUBLIC_REGION = "POLYGON ICRS 10.0 20.0 10.2 20.0 10.2 20.2 10.0 20.2"
PRIVATE_REGION = "POLYGON ICRS 200.0 -30.0 200.2 -30.0 200.2 -29.8 200.0 -29.8"


def _load(admin: Session) -> tuple[str, str]:
    public = admin.insert(JwstDataModel(
        file_name="jw01000-o001_t001_nircam_clear-f200w_i2d.fits", data_type="image",
        processing_level="L3", is_public=True, file_path="mast/jw01000-o001/p_i2d.fits",
        image_info=ImageMetadata(ra=10.1, dec=20.1, footprint=PUBLIC_REGION,
                                 instrument="NIRCAM", filter="F200W", exposure_time=300.0)))
    private = admin.as_user("alice").insert(JwstDataModel(
        file_name="alice_secret_i2d.fits", data_type="image",
        image_info=ImageMetadata(ra=200.1, dec=-29.9, footprint=PRIVATE_REGION)))
    return public, private


def test_coverage_holds_only_what_the_session_may_read(admin_session: Session) -> None:
    import astropy.units as u
    from astropy.coordinates import Latitude, Longitude

    _load(admin_session)
    inside_private = (Longitude(200.1 * u.deg), Latitude(-29.9 * u.deg))
    inside_public = (Longitude(10.1 * u.deg), Latitude(20.1 * u.deg))
    bob = admin_session.as_user("bob").coverage(max_order=10)
    alice = admin_session.as_user("alice").coverage(max_order=10)
    assert bool(bob.contains_lonlat(*inside_public)[0])
    assert not bool(bob.contains_lonlat(*inside_private)[0])
    assert bool(alice.contains_lonlat(*inside_private)[0])
    only_nircam = admin_session.coverage(max_order=10, instrument="NIRCAM")
    assert not bool(only_nircam.contains_lonlat(*inside_private)[0])


def test_an_obscore_votable_round_trips_the_records_sky(admin_session: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from astropy.table import Table

    public, _private = _load(admin_session)
    table = admin_session.anonymous().table(schema="obscore")
    assert list(table["obs_publisher_did"]) and len(table) == 1
    assert {"s_ra", "s_dec", "s_region", "t_min", "access_url"} <= set(table.colnames)
    assert table.colnames.index("s_region") < table.colnames.index("file_name")
    path = tmp_path / "found.xml"
    table.write(path, format="votable")
    back = Table.read(path, format="votable")
    assert back["s_ra"][0] == pytest.approx(10.1) and back["s_dec"][0] == pytest.approx(20.1)
    assert str(back["s_region"][0]) == PUBLIC_REGION
    assert str(back["obs_publisher_did"][0]).endswith(public)
    page = admin_session.anonymous().search()
    assert page.to_table(schema="obscore")["s_region"][0] == PUBLIC_REGION
    with pytest.raises(ValueError, match="schema"):
        page.to_table(schema="votable")
