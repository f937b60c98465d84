"""Which backup lines restore: operators never, dotted names only inside metadata (an
association's member file names are keys there)."""

from __future__ import annotations

from bson import ObjectId

from jwstnb.backup import _problem


def _doc(**extra: object) -> dict[str, object]:
    return {"_id": ObjectId(), "fileName": "x_i2d.fits", "dataType": "image", **extra}


def test_dots_only_inside_metadata_and_never_an_operator() -> None:
    assert _problem(1, _doc(metadata={"asn_exptypes": {"a_cal.fits": "science"}})) is None
    assert "imageInfo.a.b" in str(_problem(2, _doc(imageInfo={"a.b": 1})))
    assert "metadata.$where" in str(_problem(3, _doc(metadata={"$where": "1"})))
    assert "metadata.x.$gt" in str(_problem(4, _doc(metadata={"x": {"$gt": 1}})))
    assert "a.b" in str(_problem(5, _doc(**{"a.b": 1})))
