"""Association roles on lineage edges, every product of an association, level-2 products of
an association, and the associations ``Lineage.to_asn`` writes (checked against the
pipeline's own association schemas, copied in ``tests/data/jwst_asn_schema``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from bson import ObjectId

from jwstnb import records
from jwstnb.errors import NotFound, ValidationError
from jwstnb.lineage import (
    ASN_KINDS,
    AsnMember,
    AsnProduct,
    Lineage,
    LineageInput,
    LineageLinks,
    asn_products_of,
    build_lineage,
    plan_lineage,
)
from jwstnb.naming import classify, parse_group_key, product_group
from jwstnb.schema import JwstDataModel

SCHEMAS = Path(__file__).parents[1] / "data" / "jwst_asn_schema"

# --- a coronagraphy candidate: science and PSF reference exposures --------------------------
CORON_SCI = "jw01386001001_04101_00001_nrcalong_calints.fits"
CORON_PSF = "jw01386002001_04101_00001_nrcalong_calints.fits"
CORON_PRODUCT = "jw01386-a3001_t001_nircam_f444w-maskrnd"
CORON_ASN_NAME = "jw01386-a3001_20230101t000000_coron3_00001_asn.json"
CORON_ASN = {
    "asn_type": "coron3", "asn_rule": "Asn_Lv3Coron", "asn_id": "a3001", "program": "01386",
    "target": "t001", "asn_pool": "jw01386_20230101t000000_pool.csv",
    "products": [{"name": CORON_PRODUCT, "members": [
        {"expname": CORON_SCI, "exptype": "science"},
        {"expname": CORON_PSF, "exptype": "psf"},
    ]}],
}
CORON_FILES = [CORON_SCI, CORON_PSF, f"{CORON_PRODUCT}_i2d.fits",
               f"{CORON_PRODUCT}_psfstack.fits"]

# --- a NIRISS WFSS spec2 product: its rate, direct image, source catalog, segmentation map --
WFSS_EXP = "jw01324001001_03101_00001_nis"
WFSS_DIRECT = "jw01324-o001_t001_niriss_clear-f150w"
WFSS_ASN_NAME = "jw01324-o001_20230101t000000_spec2_00001_asn.json"
WFSS_ASN = {
    "asn_type": "spec2", "asn_rule": "Asn_Lv2WFSS", "asn_id": "o001", "program": "01324",
    "asn_pool": "jw01324_20230101t000000_pool.csv",
    "products": [{"name": WFSS_EXP, "members": [
        {"expname": f"{WFSS_EXP}_rate.fits", "exptype": "science"},
        {"expname": f"{WFSS_DIRECT}_i2d.fits", "exptype": "direct_image"},
        {"expname": f"{WFSS_DIRECT}_cat.ecsv", "exptype": "sourcecat"},
        {"expname": f"{WFSS_DIRECT}_segm.fits", "exptype": "segmap"},
    ]}],
}
WFSS_FILES = [f"{WFSS_EXP}_uncal.fits", f"{WFSS_EXP}_rate.fits", f"{WFSS_EXP}_cal.fits",
              f"{WFSS_EXP}_x1d.fits", f"{WFSS_DIRECT}_i2d.fits", f"{WFSS_DIRECT}_cat.ecsv",
              f"{WFSS_DIRECT}_segm.fits"]

# --- a nodded MIRI LRS spec2 association: two products, each nod the other's background ----
NOD_A, NOD_B = "jw01536028001_03102_00001_mirimage", "jw01536028001_03102_00002_mirimage"
MIRI_ASN_NAME = "jw01536-o028_20230101t000000_spec2_00001_asn.json"
MIRI_ASN = {
    "asn_type": "spec2", "asn_rule": "Asn_Lv2SpecBkg", "asn_id": "o028", "program": "01536",
    "asn_pool": "jw01536_20230101t000000_pool.csv",
    "products": [
        {"name": NOD_A, "members": [{"expname": f"{NOD_A}_rate.fits", "exptype": "science"},
                                    {"expname": f"{NOD_B}_rate.fits", "exptype": "background"}]},
        {"name": NOD_B, "members": [{"expname": f"{NOD_B}_rate.fits", "exptype": "science"},
                                    {"expname": f"{NOD_A}_rate.fits", "exptype": "background"}]},
    ],
}
MIRI_FILES = [f"{n}_{s}.fits" for n in (NOD_A, NOD_B) for s in ("rate", "cal")]


def _inputs(files: list[str], asns: dict[str, dict[str, Any]]) -> list[LineageInput]:
    """Lineage inputs as ingest makes them: association files read into records first."""
    out = [LineageInput(name, name) for name in files]
    for name, asn in asns.items():
        meta = records.record_from_asn(name, 1, asn).metadata
        out.append(LineageInput(name, name, asn=asn_products_of(meta)))
    return out


def _plan(files: list[str], asns: dict[str, dict[str, Any]]) -> dict[str, LineageLinks]:
    result = plan_lineage(_inputs(files, asns))
    # the same files in the other order give the same edges and roles
    assert plan_lineage(reversed(_inputs(files, asns))) == result
    return result


# --- role-bearing edges ------------------------------------------------------------------------


def test_coronagraphy_products_keep_science_and_psf_roles() -> None:
    result = _plan(CORON_FILES, {CORON_ASN_NAME: CORON_ASN})
    for product in (f"{CORON_PRODUCT}_i2d.fits", f"{CORON_PRODUCT}_psfstack.fits"):
        links = result[product]
        assert links.derived_from == (CORON_SCI, CORON_PSF)
        assert links.derived_roles == {CORON_SCI: "science", CORON_PSF: "psf"}
        assert links.observation_base_id == "jw01386-a3001_t001_nircam"


def test_wfss_spec2_product_derives_from_every_member_with_its_role() -> None:
    result = _plan(WFSS_FILES, {WFSS_ASN_NAME: WFSS_ASN})
    cal = result[f"{WFSS_EXP}_cal.fits"]
    assert cal.derived_roles == {
        f"{WFSS_EXP}_rate.fits": "science",
        f"{WFSS_DIRECT}_i2d.fits": "direct_image",
        f"{WFSS_DIRECT}_cat.ecsv": "sourcecat",
        f"{WFSS_DIRECT}_segm.fits": "segmap",
    }
    assert set(cal.derived_from) == set(cal.derived_roles) and cal.parent_id is None
    # later files of the product keep their chain; the members keep theirs
    assert result[f"{WFSS_EXP}_x1d.fits"].derived_from == (f"{WFSS_EXP}_cal.fits",)
    assert result[f"{WFSS_EXP}_x1d.fits"].derived_roles == {}
    assert result[f"{WFSS_EXP}_rate.fits"].derived_from == (f"{WFSS_EXP}_uncal.fits",)
    assert result[f"{WFSS_DIRECT}_cat.ecsv"].derived_from == (f"{WFSS_DIRECT}_i2d.fits",)
    # the whole observation is one group, the full key the direct image gives
    assert {v.observation_base_id for v in result.values()} == {"jw01324-o001_t001_niriss"}


def test_wfss_product_without_its_cal_gives_the_members_to_the_next_file() -> None:
    files = [f for f in WFSS_FILES if not f.endswith("_cal.fits")]
    x1d = _plan(files, {WFSS_ASN_NAME: WFSS_ASN})[f"{WFSS_EXP}_x1d.fits"]
    assert x1d.derived_roles[f"{WFSS_DIRECT}_i2d.fits"] == "direct_image"
    assert len(x1d.derived_from) == 4


def test_miri_background_association_keeps_every_product_and_its_roles() -> None:
    result = _plan(MIRI_FILES, {MIRI_ASN_NAME: MIRI_ASN})
    a, b = f"{NOD_A}_rate.fits", f"{NOD_B}_rate.fits"
    assert result[f"{NOD_A}_cal.fits"].derived_roles == {a: "science", b: "background"}
    # the second product of the file is kept, with its own roles
    assert result[f"{NOD_B}_cal.fits"].derived_roles == {b: "science", a: "background"}
    assert result[f"{NOD_B}_cal.fits"].derived_from == (a, b)


def test_multi_product_stage3_association_is_kept_whole() -> None:
    cal = [f"jw02733001001_02101_0000{i}_nrca1_cal.fits" for i in (1, 2)]
    long = [f"jw02733001001_02101_0000{i}_nrcalong_cal.fits" for i in (1, 2)]
    asn = {"asn_type": "image3", "products": [
        {"name": "jw02733-o001_t001_nircam_clear-f090w",
         "members": [{"expname": c, "exptype": "science"} for c in cal]},
        {"name": "jw02733-o001_t001_nircam_clear-f444w",
         "members": [{"expname": c, "exptype": "science"} for c in long]},
    ]}
    short_i2d = "jw02733-o001_t001_nircam_clear-f090w_i2d.fits"
    long_i2d = "jw02733-o001_t001_nircam_clear-f444w_i2d.fits"
    result = _plan([*cal, *long, short_i2d, long_i2d],
                   {"jw02733-o001_20220707t165838_image3_00001_asn.json": asn})
    assert result[short_i2d].derived_from == tuple(cal)
    assert result[long_i2d].derived_from == tuple(long)  # the second product, not the L2b rule
    assert set(result[long_i2d].derived_roles.values()) == {"science"}


def test_older_asn_records_without_roles_still_give_edges() -> None:
    """A record stored before roles (asn_product + asn_members only): edges, no roles."""
    meta = {"asn_product": CORON_PRODUCT, "asn_members": [CORON_SCI, CORON_PSF]}
    assert asn_products_of(meta) == (
        AsnProduct(CORON_PRODUCT, (AsnMember(CORON_SCI, None), AsnMember(CORON_PSF, None))),
    )
    files = [LineageInput(n, n) for n in CORON_FILES]
    legacy = LineageInput(CORON_ASN_NAME, CORON_ASN_NAME, asn=asn_products_of(meta))
    i2d = plan_lineage([*files, legacy])[f"{CORON_PRODUCT}_i2d.fits"]
    assert i2d.derived_from == (CORON_SCI, CORON_PSF) and i2d.derived_roles == {}
    # with asn_exptypes the roles come back
    meta["asn_exptypes"] = {CORON_PSF: "PSF"}
    roles = plan_lineage([*files, LineageInput(CORON_ASN_NAME, CORON_ASN_NAME,
                                               asn=asn_products_of(meta))])
    assert roles[f"{CORON_PRODUCT}_i2d.fits"].derived_roles == {CORON_PSF: "psf"}


def test_stored_metadata_that_is_not_an_association_gives_nothing() -> None:
    assert asn_products_of({}) == ()
    assert asn_products_of({"asn_product_members": [1, {"members": [{"expname": 3}]}]}) == (
        AsnProduct(None, ()),
    )


def test_trapsfilled_derives_from_its_ramps() -> None:
    exp = "jw02733001001_02101_00001_nrca1"
    result = _plan([f"{exp}_uncal.fits", f"{exp}_trapsfilled.fits", f"{exp}_rate.fits"], {})
    assert result[f"{exp}_trapsfilled.fits"].parent_id == f"{exp}_uncal.fits"
    assert result[f"{exp}_rate.fits"].parent_id == f"{exp}_uncal.fits"


# --- the Lineage tree and to_asn -----------------------------------------------------------------


def _stored(
    files: list[str],
    asns: dict[str, dict[str, Any]],
    optics: dict[str, str] | None = None,
) -> list[JwstDataModel]:
    """Records as a scan and relink leave them (ObjectId ids, derivedRoles stored)."""
    ids = {name: ObjectId() for name in [*files, *asns]}
    metas: dict[str, dict[str, Any]] = {
        name: records.record_from_asn(name, 1, asn).metadata for name, asn in asns.items()
    }
    for name, value in (optics or {}).items():
        metas[name] = {"optics": value}
    inputs = [
        LineageInput(str(ids[n]), n, asn=asn_products_of(metas.get(n, {})),
                     optics=metas.get(n, {}).get("optics"))
        for n in ids
    ]
    links = plan_lineage(inputs)
    out = []
    for name, oid in ids.items():
        ident, link = classify(name), links[str(oid)]
        doc = JwstDataModel(
            id=oid, file_name=name, file_path=f"x/{name}", data_type=ident.data_type,
            processing_level=ident.processing_level, is_viewable=ident.is_viewable,
            exposure_id=ident.exposure_id, observation_base_id=link.observation_base_id,
            parent_id=link.parent_id, derived_from=list(link.derived_from),
            derived_roles=dict(link.derived_roles), metadata=metas.get(name, {}),
        ).to_document()
        out.append(JwstDataModel.from_document(doc))  # through the stored shape
    return out


def _lineage(group: str, stored: list[JwstDataModel]) -> Lineage:
    return build_lineage(group, stored)


def _by_name(lineage: Lineage) -> dict[str, str]:
    return {n.file_name: n.id for n in lineage.nodes}


def _validate(asn: dict[str, Any]) -> None:
    """The checks the pipeline's loader makes: its schema for the level, and JSON."""
    level = "level3" if ASN_KINDS[asn["asn_type"]][0] == 3 else "level2b"
    schema = json.loads((SCHEMAS / f"asn_schema_jw_{level}.json").read_text())
    jsonschema.Draft4Validator(schema).validate(json.loads(json.dumps(asn)))


def test_the_tree_reports_roles_of_edges() -> None:
    lineage = _lineage("jw01386-a3001_t001_nircam", _stored(CORON_FILES,
                                                            {CORON_ASN_NAME: CORON_ASN}))
    ids = _by_name(lineage)
    i2d = ids[f"{CORON_PRODUCT}_i2d.fits"]
    assert lineage.role(ids[CORON_PSF], i2d) == "psf"
    assert lineage.role(ids[CORON_SCI], i2d) == "science"
    assert lineage.role(ids[CORON_SCI], ids[CORON_PSF]) is None


def test_to_asn_coron3_keeps_the_psf_role_and_names_the_group() -> None:
    group = "jw01386-a3001_t001_nircam"
    asn = _lineage(group, _stored(CORON_FILES, {CORON_ASN_NAME: CORON_ASN})).to_asn("coron3")
    _validate(asn)
    (product,) = asn["products"]
    assert product_group(product["name"]) == (group, False)
    assert product["members"] == [{"expname": CORON_SCI, "exptype": "science"},
                                  {"expname": CORON_PSF, "exptype": "psf"}]
    assert (asn["asn_type"], asn["program"], asn["asn_id"], asn["target"]) == (
        "coron3", "01386", "a3001", "t001")


def test_to_asn_image3_from_the_l2b_files_of_one_filter() -> None:
    exp = [f"jw02733001001_02101_0000{i}_nrca1" for i in (1, 2)]
    files = [f"{e}_{s}.fits" for e in exp for s in ("rate", "cal")]
    files.append("jw02733-o001_t001_nircam_clear-f090w_i2d.fits")
    lineage = _lineage("jw02733-o001_t001_nircam", _stored(files, {}))
    asn = lineage.to_asn("image3")
    _validate(asn)
    (product,) = asn["products"]
    assert product["name"] == "jw02733-o001_t001_nircam_clear-f090w"
    assert product_group(product["name"]) == ("jw02733-o001_t001_nircam", False)
    assert [m["expname"] for m in product["members"]] == [f"{e}_cal.fits" for e in exp]
    assert {m["exptype"] for m in product["members"]} == {"science"}
    # read back as jwstnb reads an association, it rebuilds the same edges
    meta = records.record_from_asn("jw02733-o001_20260101t000000_image3_00001_asn.json", 1,
                                   asn).metadata
    again = plan_lineage([*[LineageInput(f, f) for f in files],
                          LineageInput("asn", "asn.json", asn=asn_products_of(meta))])
    assert again["jw02733-o001_t001_nircam_clear-f090w_i2d.fits"].derived_from == tuple(
        f"{e}_cal.fits" for e in exp)


def test_to_asn_needs_one_filter_and_a_full_group() -> None:
    files = ["jw02733001001_02101_00001_nrca1_cal.fits", "jw02733001001_02101_00002_nrca1_cal.fits"]
    optics = {files[0]: "clear-f090w", files[1]: "clear-f200w"}
    stored = _stored(files, {}, optics)
    for record in stored:
        record.observation_base_id = "jw02733-o001_t001_nircam"
    lineage = _lineage("jw02733-o001_t001_nircam", stored)
    with pytest.raises(ValidationError, match="several"):
        lineage.to_asn("image3")
    asn = lineage.to_asn("image3", optics="F200W")
    _validate(asn)
    assert asn["products"][0]["name"] == "jw02733-o001_t001_nircam_f200w"
    assert [m["expname"] for m in asn["products"][0]["members"]] == [files[1]]
    with pytest.raises(ValidationError, match="kind"):
        lineage.to_asn("image4")
    with pytest.raises(NotFound, match="calints"):
        lineage.to_asn("coron3")
    provisional = _lineage("jw02733-o001_nircam", _stored(files, {}))
    with pytest.raises(ValidationError, match="provisional"):
        provisional.to_asn("image3")


def test_to_asn_spec2_writes_one_product_per_exposure_with_its_other_members() -> None:
    group = "jw01536-o028_miri"
    lineage = _lineage(group, _stored(MIRI_FILES, {MIRI_ASN_NAME: MIRI_ASN}))
    asn = lineage.to_asn("spec2")
    _validate(asn)
    assert asn["products"] == MIRI_ASN["products"]  # both products, both roles each
    for product in asn["products"]:
        key = parse_group_key(product_group(product["name"])[0])  # type: ignore[index]
        assert key is not None and key.slot == parse_group_key(group).slot  # type: ignore[union-attr]


def test_to_asn_wfss_spec2_names_the_direct_image_catalog_and_segmap() -> None:
    group = "jw01324-o001_t001_niriss"
    asn = _lineage(group, _stored(WFSS_FILES, {WFSS_ASN_NAME: WFSS_ASN})).to_asn("spec2")
    _validate(asn)
    assert asn["products"] == WFSS_ASN["products"]


def test_an_edited_association_fails_the_pipeline_schema() -> None:
    """The schema check is real: a member without its exptype is refused."""
    asn = {"asn_type": "image3", "products": [{"name": "x", "members": [{"expname": "a"}]}]}
    with pytest.raises(jsonschema.ValidationError, match="exptype"):
        _validate(asn)
