"""Lineage rules: groups, provisional upgrades, edges, and the Lineage tree."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st

from jwstnb.errors import NotFound
from jwstnb.lineage import (
    Contributors,
    Lineage,
    LineageInput,
    LineageLinks,
    LineageNode,
    build_lineage,
    optics_match,
    plan_lineage,
)
from jwstnb.naming import classify
from jwstnb.schema import DataType, JwstDataModel, ProcessingLevel

EXP = "jw02733001001_02101_00001"
I2D = "jw02733-o001_t001_nircam_clear-f090w_i2d.fits"
PRODUCT = "jw02733-o001_t001_nircam_clear-f090w"
FULL = "jw02733-o001_t001_nircam"
PROV = "jw02733-o001_nircam"


def plan(*files: LineageInput | str) -> dict[str, LineageLinks]:
    """plan_lineage where a bare string is a file whose id is its own name."""
    return plan_lineage(f if isinstance(f, LineageInput) else LineageInput(f, f) for f in files)


def parents(result: dict[str, LineageLinks]) -> dict[str, tuple[str, ...]]:
    return {k: v.derived_from for k, v in result.items()}


# --- exposure chains ---


def test_chain_uncal_rate_cal_crf() -> None:
    names = [f"{EXP}_nrca1_uncal.fits", f"{EXP}_nrca1_rate.fits", f"{EXP}_nrca1_cal.fits",
             f"{EXP}_nrca1_o001_crf.fits"]
    result = plan(*names)
    assert [result[n].parent_id for n in names] == [None, *names[:3]]
    assert [result[n].derived_from for n in names] == [(), *((n,) for n in names[:3])]


def test_nearest_lower_product_present_when_a_level_is_missing() -> None:
    uncal, cal, crf = (f"{EXP}_nrca1_{s}.fits" for s in ("uncal", "cal", "o001_crf"))
    result = plan(uncal, cal, crf)
    assert result[cal].parent_id == uncal
    assert result[crf].parent_id == cal
    assert plan(uncal, crf)[crf].parent_id == uncal


def test_ints_chain_and_spectral_products() -> None:
    base = "jw01366004001_04101_00001-seg001_nrs1"
    uncal, rate, rateints, cal, calints, x1dints, s2d, s3d, x1d = (
        f"{base}_{s}.fits"
        for s in ("uncal", "rate", "rateints", "cal", "calints", "x1dints", "s2d", "s3d", "x1d")
    )
    result = plan(uncal, rate, rateints, cal, calints, x1dints, s2d, s3d, x1d)
    assert result[rateints].parent_id == uncal
    assert result[calints].parent_id == rateints
    assert result[x1dints].parent_id == calints
    assert result[cal].parent_id == rate
    for product in (s2d, s3d, x1d):
        assert result[product].parent_id == cal
    # without calints, x1dints falls back to rateints, never to the non-ints branch
    assert plan(uncal, rate, rateints, cal, x1dints)[x1dints].parent_id == rateints


def test_chains_are_per_exposure_detector_and_segment() -> None:
    files = [
        "jw01366004001_04101_00001-seg001_nrs1_uncal.fits",
        "jw01366004001_04101_00001-seg002_nrs1_rateints.fits",
        "jw01366004001_04101_00001-seg001_nrs2_rateints.fits",
        "jw01366004001_04101_00002-seg001_nrs1_rateints.fits",
        "jw01366004001_04101_00001-seg001_nrs1_rateints.fits",
    ]
    result = plan(*files)
    assert [result[f].parent_id for f in files] == [None, None, None, None, files[0]]


def test_guide_star_chain() -> None:
    uncal = "jw01234001001_gs-fg_2022170160412_uncal.fits"
    cal = "jw01234001001_gs-fg_2022170160412_cal.fits"
    other = "jw01234001001_gs-id_1_image_cal.fits"
    result = plan(uncal, cal, other)
    assert result[cal].parent_id == uncal
    assert result[other].parent_id is None
    assert {v.observation_base_id for v in result.values()} == {"jw01234-o001_fgs"}


def test_exactly_one_parent_rule_with_duplicate_names() -> None:
    cal = f"{EXP}_nrca1_cal.fits"
    crf = f"{EXP}_nrca1_o001_crf.fits"
    result = plan_lineage([LineageInput("a", cal), LineageInput("b", cal), LineageInput("c", crf)])
    assert result["c"].derived_from == ("a", "b")
    assert result["c"].parent_id is None


# --- stage-3 products ---


def _cal(n: int, det: str = "nrca1", optics: str | None = None) -> LineageInput:
    name = f"jw02733001001_02101_{n:05d}_{det}_cal.fits"
    return LineageInput(f"cal{n}{det}", name, optics=optics)


def test_stage3_without_asn_derives_from_all_cal_and_crf_of_the_group() -> None:
    crf = LineageInput("crf1", f"{EXP}_nrca1_o001_crf.fits")
    calints = LineageInput("calints", "jw02733001001_02101_00004_nrcb1_calints.fits")
    rate = LineageInput("rate", "jw02733001001_02101_00003_nrca1_rate.fits")
    other_obs = LineageInput("other", "jw02733002001_02101_00001_nrca1_cal.fits")
    result = plan_lineage([_cal(1), _cal(2), crf, calints, rate, other_obs,
                           LineageInput("i2d", I2D)])
    assert result["i2d"].derived_from == ("cal1nrca1", "cal2nrca1", "calints", "crf1")
    assert result["i2d"].parent_id is None
    assert plan_lineage([_cal(1), LineageInput("i2d", I2D)])["i2d"].parent_id == "cal1nrca1"


def test_stage3_fallback_compares_optics_when_known() -> None:
    files = [
        _cal(1, optics="F090W-CLEAR"),
        _cal(2, optics="clear-f200w"),
        _cal(3),  # optics unknown: matches any
        LineageInput("i2d", I2D),
        LineageInput("i2d200", "jw02733-o001_t001_nircam_clear-f200w_i2d.fits"),
    ]
    result = plan_lineage(files)
    assert result["i2d"].derived_from == ("cal1nrca1", "cal3nrca1")
    assert result["i2d200"].derived_from == ("cal2nrca1", "cal3nrca1")


def test_optics_match() -> None:
    assert optics_match(None, "f090w")
    assert optics_match("clear-f090w", "F090W")
    assert optics_match("f444w-maskrnd", "f444w")
    assert not optics_match("clear-f090w", "clear-f200w")
    assert not optics_match("f170lp-g235m", "f100lp-g140m")


def test_stage3_with_asn_derives_from_its_members_only() -> None:
    asn = LineageInput(
        "asn",
        "jw02733-o001_20220707t165838_image3_001_asn.json",
        asn_members=(f"{EXP}_nrca1_cal.fits", "JW02733001001_02101_00002_NRCA1_CAL.FITS",
                     "jw02733001001_02101_00009_nrca1_cal.fits"),
        asn_product=PRODUCT.upper(),
    )
    gz = LineageInput("cal2", "jw02733001001_02101_00002_nrca1_cal.fits.gz")
    files = [_cal(1), gz, _cal(3), asn, LineageInput("i2d", I2D)]
    result = plan_lineage(files)
    assert result["i2d"].derived_from == ("cal1nrca1", "cal2")  # 00003 is not a member
    assert result["asn"].observation_base_id == FULL
    assert result["asn"].derived_from == ()
    # the same asn with a single member gives a parent
    one = LineageInput("asn", asn.file_name, asn_members=(f"{EXP}_nrca1_cal.fits",),
                       asn_product=PRODUCT)
    assert plan_lineage([_cal(1), _cal(3), one, LineageInput("i2d", I2D)])["i2d"].parent_id == (
        "cal1nrca1"
    )


def test_asn_for_another_product_does_not_apply() -> None:
    asn = LineageInput("asn", "jw02733-o001_20220707t165838_image3_002_asn.json",
                       asn_members=(f"{EXP}_nrca1_cal.fits",),
                       asn_product="jw02733-o001_t001_nircam_clear-f200w")
    result = plan_lineage([_cal(1), _cal(2), asn, LineageInput("i2d", I2D)])
    assert result["i2d"].derived_from == ("cal1nrca1", "cal2nrca1")


def test_asn_with_no_member_present_falls_back() -> None:
    asn = LineageInput("asn", "jw02733-o001_20220707t165838_image3_001_asn.json",
                       asn_members=("jw02733001001_02101_00009_nrca1_cal.fits",),
                       asn_product=PRODUCT)
    result = plan_lineage([_cal(1), asn, LineageInput("i2d", I2D)])
    assert result["i2d"].derived_from == ("cal1nrca1",)


def test_candidate_products_use_members_across_observation_groups() -> None:
    i2d = LineageInput("c-i2d", "jw02727-c1001_t062_nircam_f090w_i2d.fits")
    cal_o1 = LineageInput("o1", "jw02727001001_02101_00001_nrca1_cal.fits")
    cal_o2 = LineageInput("o2", "jw02727002001_02101_00001_nrca1_cal.fits")
    result = plan_lineage([i2d, cal_o1, cal_o2])
    assert result["c-i2d"].observation_base_id == "jw02727-c1001_t062_nircam"
    assert result["c-i2d"].derived_from == ()  # no cal file in the candidate's own group
    assert result["o1"].observation_base_id == "jw02727-o001_nircam"
    asn = LineageInput("asn", "jw02727-c1001_20230101t000000_image3_001_asn.json",
                       asn_members=(cal_o1.file_name, cal_o2.file_name),
                       asn_product="jw02727-c1001_t062_nircam_f090w")
    result = plan_lineage([i2d, cal_o1, cal_o2, asn])
    assert result["c-i2d"].derived_from == ("o1", "o2")
    assert result["asn"].observation_base_id == "jw02727-c1001_t062_nircam"
    assert result["o1"].observation_base_id == "jw02727-o001_nircam"  # not a c1001 file


C_EXP1 = "jw02727001001_02101_00001_nrca1"
C_EXP2 = "jw02727002001_02101_00001_nrca1"
C_FULL = "jw02727-c1027_t062_nircam"
C_PROV = "jw02727-c1027_nircam"


def test_candidate_made_exposure_products_join_the_candidate_group() -> None:
    files = [
        LineageInput("cal1", f"{C_EXP1}_cal.fits"),
        LineageInput("crf1", f"{C_EXP1}_c1027_crf.fits"),
        LineageInput("crfints1", f"{C_EXP1}_c1027_crfints.fits"),
        LineageInput("ocrf1", f"{C_EXP1}_o001_crf.fits"),
        LineageInput("cal2", f"{C_EXP2}_cal.fits"),
        LineageInput("crf2", f"{C_EXP2}_c1027_crf.fits"),
    ]
    result = plan_lineage(files)
    groups = {k: v.observation_base_id for k, v in result.items()}
    assert groups == {"cal1": "jw02727-o001_nircam", "crf1": C_PROV, "crfints1": C_PROV,
                      "ocrf1": "jw02727-o001_nircam", "cal2": "jw02727-o002_nircam",
                      "crf2": C_PROV}
    # cross-group chain edges; an o001 product is never the parent of a c1027 product
    assert result["crf1"].parent_id == "cal1" and result["ocrf1"].parent_id == "cal1"
    assert result["crf2"].parent_id == "cal2"
    assert result["crfints1"].derived_from == ()  # the ints branch never takes a cal
    # the candidate's full key, from its stage-3 name, upgrades the provisional key
    i2d = LineageInput("i2d", "jw02727-c1027_t062_nircam_f090w_i2d.fits")
    result = plan_lineage([*files, i2d])
    assert {result[k].observation_base_id for k in ("crf1", "crfints1", "crf2", "i2d")} == {
        C_FULL}
    assert result["cal1"].observation_base_id == "jw02727-o001_nircam"
    # a candidate i2d without its asn derives from the candidate group's crf files,
    # which derive from the cal files of two other groups
    assert result["i2d"].derived_from == ("crf1", "crf2", "crfints1")


def test_candidate_exposure_keeps_its_group_under_another_mast_observation() -> None:
    crf = LineageInput("crf", f"{C_EXP1}_c1027_crf.fits",
                       known_group="jw02727-o001_t001_nircam_f090w")
    assert plan_lineage([crf])["crf"].observation_base_id == C_PROV
    crf = LineageInput("crf", f"{C_EXP1}_c1027_crf.fits",
                       known_group="jw02727-c1027_t062_nircam_f090w")
    assert plan_lineage([crf])["crf"].observation_base_id == C_FULL
    ocrf = LineageInput("ocrf", f"{C_EXP1}_o001_crf.fits", known_group=C_FULL)
    assert plan_lineage([ocrf])["ocrf"].observation_base_id == "jw02727-o001_nircam"
    # an exposure-level MAST obs id names the observation, never the candidate
    crf = LineageInput("crf", f"{C_EXP1}_c1027_crf.fits", known_group=C_EXP1)
    cal = LineageInput("cal", f"{C_EXP1}_cal.fits", known_group=C_EXP1)
    guider = LineageInput("gs", "jw02727001001_02101_00001_guider1_cal.fits",
                          known_group="jw02727001001_02101_00001_guider1")
    result = plan_lineage([crf, cal, guider])
    assert [result[k].observation_base_id for k in ("crf", "cal", "gs")] == [
        C_PROV, "jw02727-o001_nircam", "jw02727-o001_fgs"]


def test_a_file_listed_under_two_observations_takes_the_parent_in_its_own_group() -> None:
    # MAST lists member exposures under the candidate too: two records of one cal file
    cal_obs = LineageInput("cal-o", f"{C_EXP1}_cal.fits", known_group="jw02727-o001_t001_nircam")
    cal_c = LineageInput("cal-c", f"{C_EXP1}_cal.fits", known_group=C_FULL)
    crf_c = LineageInput("crf-c", f"{C_EXP1}_c1027_crf.fits")
    crf_o = LineageInput("crf-o", f"{C_EXP1}_o001_crf.fits")
    result = plan_lineage([cal_obs, cal_c, crf_c, crf_o])
    assert result["cal-c"].observation_base_id == result["crf-c"].observation_base_id == C_FULL
    assert result["crf-c"].parent_id == "cal-c"
    assert result["crf-o"].parent_id == "cal-o"
    # with no copy in its own group, every copy is a parent
    assert plan_lineage([cal_obs, cal_c, LineageInput("x", f"{C_EXP1}_a3001_crf.fits")])[
        "x"].derived_from == ("cal-c", "cal-o")


def test_coronagraphy_exposure_products_chain_within_their_association() -> None:
    base = "jw01386001001_03106_00001_nrcalong"
    files = [LineageInput(s, f"{base}_{s}.fits") for s in ("calints", "rateints")] + [
        LineageInput(f"{acid}-{s}", f"{base}_{acid}_{s}.fits")
        for acid in ("a3001", "a3002") for s in ("crfints", "psfalign", "psfsub")
    ]
    result = plan_lineage(files)
    assert result["calints"].parent_id == "rateints"
    assert result["a3001-crfints"].parent_id == "calints"
    assert result["a3001-psfalign"].parent_id == "a3001-crfints"
    assert result["a3002-psfsub"].parent_id == "a3002-crfints"
    assert result["a3001-psfsub"].observation_base_id == "jw01386-a3001_nircam"
    psfstack = LineageInput("stack", "jw01386-a3001_t001_nircam_f444w-maskrnd_psfstack.fits")
    result = plan_lineage([*files, psfstack])
    assert result["a3001-psfsub"].observation_base_id == "jw01386-a3001_t001_nircam"
    assert result["a3002-psfsub"].observation_base_id == "jw01386-a3002_nircam"
    assert result["calints"].observation_base_id == "jw01386-o001_nircam"
    assert result["stack"].derived_from == ("a3001-crfints",)


def test_previews_join_and_derive_from_their_product() -> None:
    files = [
        LineageInput("cal", f"{EXP}_nrca1_cal.fits"),
        LineageInput("cal-jpg", f"{EXP}_nrca1_cal.jpg"),
        LineageInput("cal-thumb", f"{EXP}_nrca1_cal_thumb.jpg"),
        LineageInput("i2d", I2D),
        LineageInput("i2d-png", PRODUCT + "_i2d.png"),
        LineageInput("i2d-thumb", PRODUCT + "_i2d_thumb.png"),
        LineageInput("lone-thumb", "jw02733-o001_t001_nircam_clear-f200w_i2d_thumb.jpg"),
    ]
    result = plan_lineage(files)
    assert result["cal-jpg"].parent_id == result["cal-thumb"].parent_id == "cal"
    assert result["i2d-png"].parent_id == result["i2d-thumb"].parent_id == "i2d"
    assert result["lone-thumb"].derived_from == ()
    # pictures are never inputs of a mosaic nor chain members
    assert result["i2d"].derived_from == ("cal",)
    assert {v.observation_base_id for v in result.values()} == {FULL}


def test_wavefront_products_with_activity_ids() -> None:
    wfs = "jw01163-o001_t001_nircam_f212n-wlp8-nrca3"
    files = [LineageInput("cal", "jw01163001001_02101_00001_nrca3_cal.fits"),
             LineageInput("cmb", f"{wfs}_wfscmb-04.fits"),
             LineageInput("cmb-jpg", f"{wfs}_wfscmb-04_thumb.jpg"),
             LineageInput("cmb5", f"{wfs}_wfscmb-05.fits")]
    result = plan_lineage(files)
    assert {v.observation_base_id for v in result.values()} == {"jw01163-o001_t001_nircam"}
    assert result["cmb"].parent_id == "cal"
    assert result["cmb-jpg"].parent_id == "cmb"


def test_msa_metafile_joins_its_observation() -> None:
    files = [LineageInput("msa", "jw01345066001_01_msa.fits"),
             LineageInput("cal", "jw01345066001_03101_00001_nrs1_cal.fits")]
    result = plan_lineage(files)
    assert result["msa"] == LineageLinks("jw01345-o066_nirspec", None, ())
    s2d = LineageInput("s2d", "jw01345-o066_t001_nirspec_f170lp-g235m_s2d.fits")
    result = plan_lineage([*files, s2d])
    assert result["msa"].observation_base_id == "jw01345-o066_t001_nirspec"
    assert result["s2d"].derived_from == ("cal",)


def test_mos_source_products_with_b_v_and_t_s_ids_join_the_observation() -> None:
    names = ["jw01345-o066_b000000031_nirspec_f170lp-g235m_s2d.fits",
             "jw01345-o066_v000000002_nirspec_f170lp-g235m_x1d.fits"]
    result = plan(*names, "jw01345066001_03101_00001_nrs1_cal.fits")
    assert {v.observation_base_id for v in result.values()} == {"jw01345-o066_nirspec"}
    result = plan(*names, "jw01345-o066_t001_nirspec_f170lp-g235m_s3d.fits")
    assert {v.observation_base_id for v in result.values()} == {"jw01345-o066_t001_nirspec"}
    # a t###-s######### name carries the full key itself: the whole observation joins it
    source = "jw01538-o161_t002-s000000001_nirspec_f290lp-g395h_s2d.fits"
    result = plan(source, "jw01538-o161_b000000031_nirspec_f290lp-g395h_s2d.fits",
                  "jw01538161001_03101_00001_nrs1_cal.fits")
    assert {v.observation_base_id for v in result.values()} == {"jw01538-o161_t002_nirspec"}


def test_crds_references_and_pools_have_no_group() -> None:
    result = plan("jwst_nircam_flat_0001.fits", "jwst_1075.pmap",
                  "jw02733_20220707t165838_pool.csv", I2D)
    assert result["jwst_nircam_flat_0001.fits"] == LineageLinks(None, None, ())
    assert result["jwst_1075.pmap"] == LineageLinks(None, None, ())
    assert result["jw02733_20220707t165838_pool.csv"] == LineageLinks(None, None, ())


def test_cat_and_segm_derive_from_their_i2d() -> None:
    cat = LineageInput("cat", PRODUCT + "_cat.ecsv")
    segm = LineageInput("segm", PRODUCT + "_segm.fits")
    other_i2d = LineageInput("i2d200", "jw02733-o001_t001_nircam_clear-f200w_i2d.fits")
    result = plan_lineage([_cal(1), _cal(2), LineageInput("i2d", I2D), cat, segm, other_i2d])
    assert result["cat"].parent_id == "i2d" and result["cat"].derived_from == ("i2d",)
    assert result["segm"].parent_id == "i2d"
    # no i2d of the same product: the general stage-3 rule applies
    result = plan_lineage([_cal(1), cat, other_i2d])
    assert result["cat"].derived_from == ("cal1nrca1",)


def test_source_based_products_join_the_observation() -> None:
    s2d = LineageInput("s2d", "jw01345-o066_s000000680_nirspec_f170lp-g235m_s2d.fits")
    cal = LineageInput("cal", "jw01345066001_03101_00001_nrs1_cal.fits")
    result = plan_lineage([s2d, cal])
    assert result["s2d"].observation_base_id == result["cal"].observation_base_id == (
        "jw01345-o066_nirspec"
    )
    assert result["s2d"].parent_id == "cal"
    x1d = LineageInput("x1d", "jw01345-o066_t001_nirspec_f170lp-g235m_x1d.fits")
    result = plan_lineage([s2d, cal, x1d])
    assert {v.observation_base_id for v in result.values()} == {"jw01345-o066_t001_nirspec"}


# --- groups and upgrades ---


def test_exposures_alone_stay_provisional() -> None:
    result = plan(f"{EXP}_nrca1_uncal.fits", "jw02733001001_02101_00002_nrcb1_cal.fits")
    assert {v.observation_base_id for v in result.values()} == {PROV}


@pytest.mark.parametrize(
    "source",
    [
        LineageInput("src", I2D),
        LineageInput("src", "whatever.fits", known_group=FULL),
        LineageInput("src", "whatever.fits", known_group=PRODUCT),  # MAST obs id form
        LineageInput("src", "jw02733-o001_20220707t165838_image3_001_asn.json",
                     asn_product=PRODUCT),
    ],
    ids=["stage3-name", "known-group", "known-obs-id", "asn-product"],
)
def test_provisional_keys_upgrade_when_the_full_key_is_known(source: LineageInput) -> None:
    files = [LineageInput("uncal", f"{EXP}_nrca1_uncal.fits"),
             LineageInput("cal", "jw02733001001_02101_00002_nrcb1_cal.fits"), source]
    result = plan_lineage(files)
    assert {v.observation_base_id for v in result.values()} == {FULL}


def test_upgrade_needs_same_program_observation_and_instrument() -> None:
    files = [
        LineageInput("i2d", I2D),
        LineageInput("obs2", "jw02733002001_02101_00001_nrca1_cal.fits"),
        LineageInput("miri", "jw02733001001_02101_00001_mirimage_cal.fits"),
        LineageInput("prog", "jw01234001001_02101_00001_nrca1_cal.fits"),
        LineageInput("gs", "jw02733001001_gs-fg_2022170160412_cal.fits"),
    ]
    groups = {k: v.observation_base_id for k, v in plan_lineage(files).items()}
    assert groups == {"i2d": FULL, "obs2": "jw02733-o002_nircam", "miri": "jw02733-o001_miri",
                      "prog": "jw01234-o001_nircam", "gs": "jw02733-o001_fgs"}


def test_ambiguous_full_keys_leave_provisional_keys_alone() -> None:
    files = [LineageInput("a", I2D), LineageInput("b", "jw02733-o001_t002_nircam_f200w_i2d.fits"),
             LineageInput("cal", f"{EXP}_nrca1_cal.fits")]
    groups = {k: v.observation_base_id for k, v in plan_lineage(files).items()}
    assert groups == {"a": FULL, "b": "jw02733-o001_t002_nircam", "cal": PROV}


def test_known_group_wins_over_the_exposure_name() -> None:
    cal = LineageInput("cal", f"{EXP}_nrca1_cal.fits", known_group="jw02727-c1001_t062_nircam")
    result = plan_lineage([cal, LineageInput("uncal", f"{EXP}_nrca1_uncal.fits")])
    assert result["cal"].observation_base_id == "jw02727-c1001_t062_nircam"
    assert result["uncal"].observation_base_id == PROV
    assert result["cal"].parent_id == "uncal"  # chains ignore groups
    # a stage-3 name wins over a known group that disagrees
    i2d = LineageInput("i2d", I2D, known_group="jw09999-o009_t009_miri")
    assert plan_lineage([i2d])["i2d"].observation_base_id == FULL


def test_known_group_that_is_not_a_jwst_key_is_kept_as_given() -> None:
    f = LineageInput("x", "ngc_calibration_i2d.fits", known_group="My Mosaic")
    assert plan_lineage([f])["x"].observation_base_id == "My Mosaic"
    assert plan_lineage([LineageInput("y", "ngc_calibration_i2d.fits")])["y"] == LineageLinks(
        None, None, ()
    )


def test_asn_without_product_joins_the_single_group_of_its_observation() -> None:
    asn = LineageInput("asn", "jw02733-o001_20220707t165838_image3_001_asn.json")
    assert plan_lineage([asn])["asn"].observation_base_id is None
    result = plan_lineage([asn, LineageInput("cal", f"{EXP}_nrca1_cal.fits")])
    assert result["asn"].observation_base_id == PROV
    result = plan_lineage([asn, LineageInput("cal", f"{EXP}_nrca1_cal.fits"),
                           LineageInput("miri", "jw02733001001_02101_00001_mirimage_cal.fits")])
    assert result["asn"].observation_base_id is None  # two instruments: ambiguous


def test_image2_asn_product_gives_the_provisional_observation_key() -> None:
    asn = LineageInput("asn", "jw02733-o001_20220707t165838_image2_001_asn.json",
                       asn_product=f"{EXP}_nrca1", asn_members=(f"{EXP}_nrca1_rate.fits",))
    assert plan_lineage([asn])["asn"].observation_base_id == PROV
    assert plan_lineage([asn, LineageInput("i2d", I2D)])["asn"].observation_base_id == FULL


def test_inputs_accept_lists_and_reject_conflicting_duplicates() -> None:
    f = LineageInput("a", "x_asn.json", asn_members=["m1.fits"])  # type: ignore[arg-type]
    assert f.asn_members == ("m1.fits",)
    same = LineageInput("a", I2D)
    assert plan_lineage([same, same]) == plan_lineage([same])
    with pytest.raises(ValueError, match="'a'"):
        plan_lineage([same, LineageInput("a", f"{EXP}_nrca1_cal.fits")])


def test_output_is_ordered_by_id() -> None:
    result = plan_lineage([LineageInput(i, f"{EXP}_nrca1_cal.fits") for i in ("c", "a", "b")])
    assert list(result) == ["a", "b", "c"]


# --- property: arrival order never matters; one observation, one group ---

PROGRAMS = ("02733", "01366")
INSTRUMENTS = {
    "nircam": (("nrca1", "nrcb1", "nrcalong"), ("clear-f090w", "f444w")),
    "miri": (("mirimage",), ("f770w",)),
    "nirspec": (("nrs1", "nrs2"), ("clear-prism",)),
}
EXPOSURE_SUFFIXES = ("uncal", "rate", "rateints", "cal", "calints", "crf", "x1dints", "s2d",
                     "x1d")
STAGE3_SUFFIXES = ("i2d", "cat", "segm", "s2d", "x1d")


@st.composite
def observations(draw: st.DrawFn) -> tuple[list[LineageInput], dict[str, str]]:
    """Files of one or two observations, and the group every file of each should land in."""
    files: list[LineageInput] = []
    expected: dict[str, str] = {}
    for k in range(draw(st.integers(1, 2))):
        program = draw(st.sampled_from(PROGRAMS))
        obs = f"{k + 1:03d}"
        instrument = draw(st.sampled_from(sorted(INSTRUMENTS)))
        detectors, optics_choices = INSTRUMENTS[instrument]
        target = draw(st.sampled_from(("t001", "t002")))
        optics = draw(st.sampled_from(optics_choices))
        product = f"jw{program}-o{obs}_{target}_{instrument}_{optics}"
        names: list[str] = []
        for e in range(1, draw(st.integers(1, 3)) + 1):
            seg = draw(st.sampled_from(("", "-seg001")))
            for det in draw(st.lists(st.sampled_from(detectors), min_size=1, unique=True)):
                stem = f"jw{program}{obs}001_02101_{e:05d}{seg}_{det}"
                for suffix in draw(st.sets(st.sampled_from(EXPOSURE_SUFFIXES), min_size=1)):
                    names.append(f"{stem}_o{obs}_{suffix}.fits" if suffix == "crf"
                                 else f"{stem}_{suffix}.fits")
        for suffix in draw(st.sets(st.sampled_from(STAGE3_SUFFIXES), max_size=3)):
            ext = "ecsv" if suffix == "cat" else "fits"
            names.append(f"{product}_{suffix}.{ext}")
        if draw(st.booleans()):
            names.append(f"jw{program}-o{obs}_s000000680_{instrument}_{optics}_s2d.fits")
        known_index = draw(st.none() | st.integers(0, len(names) - 1))
        obs_files = [
            LineageInput(f"{k}-{i:03d}", n,
                         known_group=f"{product}" if i == known_index else None)
            for i, n in enumerate(names)
        ]
        asn = draw(st.sampled_from(("none", "product", "bare")))
        if asn != "none":
            members = tuple(n for n in names if n.endswith("_cal.fits"))
            obs_files.append(LineageInput(
                f"{k}-asn", f"jw{program}-o{obs}_20220707t165838_image3_001_asn.json",
                asn_members=members if asn == "product" else (),
                asn_product=product if asn == "product" else None,
            ))
        full_known = (
            known_index is not None
            or asn == "product"
            or any(classify(f.file_name).kind == "stage3"
                   and not classify(f.file_name).provisional for f in obs_files)
        )
        key = f"jw{program}-o{obs}_{target}_{instrument}" if full_known else (
            f"jw{program}-o{obs}_{instrument}"
        )
        files += obs_files
        expected.update(dict.fromkeys((f.id for f in obs_files), key))
    return files, expected


@settings(max_examples=150, deadline=None)
@given(data=st.data(), case=observations())
def test_any_arrival_order_gives_the_same_groups_and_edges(
    data: st.DataObject, case: tuple[list[LineageInput], dict[str, str]]
) -> None:
    _check_arrival_order(data, *case)


def _check_arrival_order(
    data: st.DataObject, files: list[LineageInput], expected: Mapping[str, str | None]
) -> dict[str, LineageLinks]:
    """Groups as expected, the same result in any order, one group per prefix of the ids at
    every moment of a one-by-one arrival, and well-formed edges."""
    reference = plan_lineage(files)
    assert {k: v.observation_base_id for k, v in reference.items()} == expected

    shuffled = data.draw(st.permutations(files))
    result = plan_lineage(shuffled)
    assert list(result.items()) == list(reference.items())
    assert plan_lineage(reversed(files)) == reference

    # files arriving one by one: at every moment, each observation's files share one group
    # (an association with nothing else of its observation yet has none)
    for n in range(1, len(shuffled) + 1):
        groups: dict[str, set[str | None]] = {}
        for fid, links in plan_lineage(shuffled[:n]).items():
            groups.setdefault(fid.split("-")[0], set()).add(links.observation_base_id)
        for keys in groups.values():
            assert len(keys - {None}) == 1 or keys == {None}

    # edges only ever link files that exist, and parent_id means exactly one parent
    for fid, links in reference.items():
        assert set(links.derived_from) <= set(reference) - {fid}
        assert links.derived_from == tuple(sorted(links.derived_from))
        assert links.parent_id == (links.derived_from[0] if len(links.derived_from) == 1
                                   else None)
    return reference


@st.composite
def candidates(
    draw: st.DrawFn,
) -> tuple[list[LineageInput], dict[str, str | None], dict[str, str]]:
    """Two observations' exposures and a candidate association spanning both.

    Returns the files, each file's expected group, and for each candidate-made crf the id of
    the cal it must derive from. Ids start ``o1-``, ``o2-`` (observation files) or ``c-``.
    """
    program = draw(st.sampled_from(PROGRAMS))
    optics = draw(st.sampled_from(("f090w", "clear-f200w")))
    acid = draw(st.sampled_from(("c1027", "c1001", "a3001")))
    c_product = f"jw{program}-{acid}_t062_nircam_{optics}"
    files: list[LineageInput] = []
    expected: dict[str, str | None] = {}
    crf_parent: dict[str, str] = {}
    cals: list[str] = []
    c_files: list[LineageInput] = []
    for k in (1, 2):
        obs_files: list[LineageInput] = []
        for e in range(1, draw(st.integers(1, 2)) + 1):
            for det in draw(st.lists(st.sampled_from(("nrca1", "nrcb2")), min_size=1,
                                     unique=True)):
                stem = f"jw{program}{k:03d}001_02101_{e:05d}_{det}"
                cal = LineageInput(f"o{k}-{e}{det}-cal", f"{stem}_cal.fits")
                obs_files.append(cal)
                cals.append(cal.file_name)
                for suffix in draw(st.sets(st.sampled_from(("uncal", "rate", "o_crf")))):
                    name = f"{stem}_o{k:03d}_crf.fits" if suffix == "o_crf" else (
                        f"{stem}_{suffix}.fits")
                    obs_files.append(LineageInput(f"o{k}-{e}{det}-{suffix}", name))
                if draw(st.booleans()):
                    crf = LineageInput(f"c-{k}{e}{det}-crf", f"{stem}_{acid}_crf.fits")
                    c_files.append(crf)
                    crf_parent[crf.id] = cal.id
        obs_full = draw(st.booleans())
        if obs_full:
            obs_files.append(LineageInput(
                f"o{k}-i2d", f"jw{program}-o{k:03d}_t001_nircam_{optics}_i2d.fits"))
        key = f"jw{program}-o{k:03d}_t001_nircam" if obs_full else f"jw{program}-o{k:03d}_nircam"
        expected.update(dict.fromkeys((f.id for f in obs_files), key))
        files += obs_files
    for suffix in draw(st.sets(st.sampled_from(("i2d", "cat", "segm")))):
        ext = "ecsv" if suffix == "cat" else "fits"
        c_files.append(LineageInput(f"c-{suffix}", f"{c_product}_{suffix}.{ext}"))
    asn = draw(st.sampled_from(("none", "product", "bare")))
    if asn != "none":
        c_files.append(LineageInput(
            "c-asn", f"jw{program}-{acid}_20230101t000000_image3_00001_asn.json",
            asn_members=tuple(cals) if asn == "product" else (),
            asn_product=c_product if asn == "product" else None,
        ))
    if c_files and (known := draw(st.none() | st.integers(0, len(c_files) - 1))) is not None:
        c_files[known] = LineageInput(c_files[known].id, c_files[known].file_name,
                                      asn_members=c_files[known].asn_members,
                                      asn_product=c_files[known].asn_product,
                                      known_group=c_product)
        full = True
    else:
        full = asn == "product" or any(f.id in ("c-i2d", "c-cat", "c-segm") for f in c_files)
    c_key: str | None = (
        f"jw{program}-{acid}_t062_nircam" if full else f"jw{program}-{acid}_nircam"
    )
    if [f.id for f in c_files] == ["c-asn"] and not (full or c_files[0].known_group):
        c_key = None  # an association alone, naming no product: no group yet
    expected.update(dict.fromkeys((f.id for f in c_files), c_key))
    return files + c_files, expected, crf_parent


@settings(max_examples=150, deadline=None)
@given(data=st.data(), case=candidates())
def test_candidates_in_any_arrival_order_keep_their_group_and_cross_group_edges(
    data: st.DataObject,
    case: tuple[list[LineageInput], dict[str, str | None], dict[str, str]],
) -> None:
    files, expected, crf_parent = case
    reference = _check_arrival_order(data, files, expected)
    # each candidate-made crf derives from its exposure's cal, in its observation's group
    for crf, cal in crf_parent.items():
        assert reference[crf].derived_from == (cal,)
        assert reference[cal].observation_base_id != reference[crf].observation_base_id
    if "c-i2d" not in reference:
        return
    c_group = reference["c-i2d"].observation_base_id
    asn = next((f for f in files if f.id == "c-asn"), None)
    cals = sorted(f.id for f in files if f.id.endswith("-cal"))
    if asn is not None and asn.asn_product:  # the members: every cal of both observations
        assert list(reference["c-i2d"].derived_from) == cals
    else:  # the candidate group's own crf files
        assert list(reference["c-i2d"].derived_from) == sorted(crf_parent)
        cals = sorted(set(crf_parent.values()))
    # the candidate's lineage, as the session builds it: its files plus their direct parents
    # and children elsewhere, reaches every contributing exposure and observation
    names = {f.id: f.file_name for f in files}
    own = {fid for fid, links in reference.items() if links.observation_base_id == c_group}
    near = {p for fid in own for p in reference[fid].derived_from}
    near |= {fid for fid, links in reference.items() if own & set(links.derived_from)}
    lineage = Lineage(c_group, [_node(fid, names[fid], reference[fid], c_group)
                                for fid in sorted(own | near)])
    got = lineage.contributors("c-i2d")
    assert got.exposures == tuple(sorted({names[c][:25] for c in cals}))
    assert got.observations == tuple(sorted({expected[c] for c in cals}))
    assert {n.id for n in lineage.external_nodes} == near - own


def _node(fid: str, name: str, links: LineageLinks, group: str | None) -> LineageNode:
    ident = classify(name)
    return LineageNode(
        id=fid, file_name=name, processing_level=ident.processing_level,
        data_type=ident.data_type, is_viewable=ident.is_viewable,
        exposure_id=ident.exposure_id, parent_id=links.parent_id,
        derived_from=links.derived_from, file_path=None,
        observation_base_id=links.observation_base_id,
        external=links.observation_base_id != group,
    )


# --- Lineage / build_lineage ---


def _record(name: str, links: LineageLinks, oid: ObjectId) -> JwstDataModel:
    ident = classify(name)
    return JwstDataModel(
        id=oid,
        file_name=name,
        file_path=f"mast/{PRODUCT}/{name}",
        data_type=ident.data_type,
        processing_level=ident.processing_level,
        is_viewable=ident.is_viewable,
        exposure_id=ident.exposure_id,
        observation_base_id=links.observation_base_id,
        parent_id=links.parent_id,
        derived_from=list(links.derived_from),
    )


def _stored_observation() -> tuple[list[JwstDataModel], dict[str, LineageLinks]]:
    names = [f"{EXP}_nrca1_uncal.fits", f"{EXP}_nrca1_rate.fits", f"{EXP}_nrca1_cal.fits",
             "jw02733001001_02101_00002_nrca1_cal.fits", I2D, PRODUCT + "_cat.ecsv",
             "jw02733-o001_20220707t165838_image3_001_asn.json"]
    oids = {n: ObjectId() for n in names}
    by_id = {str(oids[n]): n for n in names}
    links = plan_lineage(LineageInput(str(oids[n]), n) for n in names)
    return [_record(by_id[i], link, ObjectId(i)) for i, link in links.items()], links


def test_build_lineage_levels_files_and_edges() -> None:
    records, links = _stored_observation()
    lineage = build_lineage(FULL, list(reversed(records)))
    assert isinstance(lineage, Lineage) and len(lineage) == 7
    assert lineage.observation_base_id == FULL
    assert list(lineage.levels) == ["L1", "L2a", "L2b", "L3", "unknown"]
    assert [len(v) for v in lineage.levels.values()] == [1, 1, 2, 2, 1]
    assert lineage.files == [f"{EXP}_nrca1_uncal.fits", f"{EXP}_nrca1_rate.fits",
                             f"{EXP}_nrca1_cal.fits", "jw02733001001_02101_00002_nrca1_cal.fits",
                             PRODUCT + "_cat.ecsv", I2D,
                             "jw02733-o001_20220707t165838_image3_001_asn.json"]
    want = sorted((p, c) for c, link in links.items() for p in link.derived_from)
    assert lineage.edges == want and len(want) == 5
    assert lineage.external_edges == []
    ids = {n.file_name: n.id for n in lineage}
    i2d = ids[I2D]
    assert [n.file_name for n in lineage.children(i2d)] == [PRODUCT + "_cat.ecsv"]
    assert [n.file_name for n in lineage.parents(i2d)] == [
        f"{EXP}_nrca1_cal.fits", "jw02733001001_02101_00002_nrca1_cal.fits"]
    node = lineage.node(ids[f"{EXP}_nrca1_rate.fits"])
    assert node.processing_level == ProcessingLevel.L2A and node.data_type == DataType.SENSOR
    assert node.record is not None and node.record.file_name == node.file_name
    assert i2d in lineage and "nope" not in lineage
    with pytest.raises(NotFound, match="nope"):
        lineage.node("nope")
    assert "L3=2" in repr(lineage)


def test_lineage_keeps_edges_to_files_outside_it_apart() -> None:
    outside = str(ObjectId())
    node = LineageNode(id="n1", file_name=I2D, processing_level=ProcessingLevel.L3,
                       data_type=DataType.IMAGE, is_viewable=True, exposure_id=None,
                       parent_id="n0", derived_from=("n0", outside), file_path=None)
    root = LineageNode(id="n0", file_name=f"{EXP}_nrca1_cal.fits",
                       processing_level=ProcessingLevel.L2B, data_type=DataType.IMAGE,
                       is_viewable=True, exposure_id=EXP, parent_id=None, derived_from=(),
                       file_path=None)
    lineage = Lineage(FULL, [node, root])
    assert lineage.edges == [("n0", "n1")]
    assert lineage.external_edges == [(outside, "n1")]
    assert lineage.parents("n1") == [root]
    assert lineage.levels["L1"] == [] and lineage.levels["unknown"] == []
    with pytest.raises(ValueError, match="n0"):
        Lineage(FULL, [root, root])


def test_build_lineage_needs_stored_records() -> None:
    record = JwstDataModel(file_name=I2D, data_type="image")
    with pytest.raises(ValueError, match="no id"):
        build_lineage(FULL, [record])
    assert len(build_lineage(FULL, [])) == 0


def _stored(name: str, group: str | None, *parents: ObjectId) -> JwstDataModel:
    ident = classify(name)
    return JwstDataModel(
        id=ObjectId(), file_name=name, file_path=f"data/{name}", data_type=ident.data_type,
        processing_level=ident.processing_level, is_viewable=ident.is_viewable,
        exposure_id=ident.exposure_id, observation_base_id=group,
        parent_id=str(parents[0]) if len(parents) == 1 else None,
        derived_from=[str(p) for p in parents],
    )


def _candidate_lineage() -> tuple[Lineage, dict[str, str]]:
    """A candidate mosaic from two observations, as the session hands it over: the
    candidate's files plus their direct parents in the observation groups."""
    o1, o2 = "jw02727-o001_t001_nircam", "jw02727-o002_nircam"
    rate1 = ObjectId()  # in o001's group, not handed over (a parent of a parent)
    cal1 = _stored(f"{C_EXP1}_cal.fits", o1, rate1)
    cal2 = _stored(f"{C_EXP2}_cal.fits", o2)
    cal3 = _stored("jw02727002001_02101_00002_nrcb1_cal.fits", o2)
    crf1 = _stored(f"{C_EXP1}_c1027_crf.fits", C_FULL, cal1.id)  # type: ignore[arg-type]
    crf2 = _stored(f"{C_EXP2}_c1027_crf.fits", C_FULL, cal2.id)  # type: ignore[arg-type]
    crf3 = _stored("jw02727002001_02101_00002_nrcb1_c1027_crf.fits", C_FULL,
                   cal3.id)  # type: ignore[arg-type]
    i2d = _stored("jw02727-c1027_t062_nircam_f090w_i2d.fits", C_FULL,
                  crf1.id, crf2.id, crf3.id)  # type: ignore[arg-type]
    cat = _stored("jw02727-c1027_t062_nircam_f090w_cat.ecsv", C_FULL, i2d.id)  # type: ignore[arg-type]
    records = [cat, i2d, crf1, crf2, crf3, cal1, cal2, cal3]
    ids = {r.file_name: str(r.id) for r in records} | {"rate1": str(rate1)}
    return build_lineage(C_FULL, records), ids


def test_build_lineage_marks_files_of_other_groups_external() -> None:
    lineage, ids = _candidate_lineage()
    assert len(lineage) == 8
    cal1 = lineage.node(ids[f"{C_EXP1}_cal.fits"])
    assert cal1.external and cal1.observation_base_id == "jw02727-o001_t001_nircam"
    assert [n.file_name for n in lineage.external_nodes] == [
        f"{C_EXP1}_cal.fits", f"{C_EXP2}_cal.fits", "jw02727002001_02101_00002_nrcb1_cal.fits"]
    crf1 = lineage.node(ids[f"{C_EXP1}_c1027_crf.fits"])
    assert not crf1.external and crf1.observation_base_id == C_FULL
    # edges include external ends; an edge to a file not handed over stays apart
    assert (str(cal1.id), str(crf1.id)) in lineage.edges and len(lineage.edges) == 7
    assert lineage.external_edges == [(ids["rate1"], str(cal1.id))]
    assert lineage.parents(crf1.id) == [cal1]
    assert lineage.children(cal1.id) == [crf1]
    # a node made without a group is never external
    assert not LineageNode.from_record(_stored(I2D, FULL)).external


def test_contributors_of_a_candidate_mosaic() -> None:
    lineage, ids = _candidate_lineage()
    i2d = ids["jw02727-c1027_t062_nircam_f090w_i2d.fits"]
    got = lineage.contributors(i2d)
    assert got == Contributors(
        observations=("jw02727-o001_t001_nircam", "jw02727-o002_nircam"),
        exposures=("jw02727001001_02101_00001", "jw02727002001_02101_00001",
                   "jw02727002001_02101_00002"),
    )
    # the catalog combines what its mosaic combines
    assert lineage.contributors(ids["jw02727-c1027_t062_nircam_f090w_cat.ecsv"]) == got
    assert [n.file_name for n in lineage.ancestors(i2d)] == sorted(
        n.file_name for n in lineage if n.processing_level == ProcessingLevel.L2B)
    # an exposure file contributes itself; the observation key comes from its name when its
    # group is the candidate's
    crf1 = ids[f"{C_EXP1}_c1027_crf.fits"]
    assert lineage.contributors(crf1) == Contributors(("jw02727-o001_t001_nircam",),
                                                      ("jw02727001001_02101_00001",))
    with pytest.raises(NotFound, match="nope"):
        lineage.contributors("nope")


def test_contributors_without_the_parents_in_other_groups() -> None:
    lineage, ids = _candidate_lineage()
    own = [n for n in lineage if not n.external]
    alone = Lineage(C_FULL, own)
    got = alone.contributors(ids["jw02727-c1027_t062_nircam_f090w_i2d.fits"])
    # the crf files alone give provisional observation keys
    assert got.observations == ("jw02727-o001_nircam", "jw02727-o002_nircam")
    assert len(got.exposures) == 3
    assert len(alone.external_edges) == 3
    # an observation's own mosaic; non-JWST names and L3 files contribute nothing else
    records, _ = _stored_observation()
    lineage = build_lineage(FULL, records)
    i2d = next(n.id for n in lineage if n.file_name == I2D)
    assert lineage.contributors(i2d) == Contributors(
        (FULL,), ("jw02733001001_02101_00001", "jw02733001001_02101_00002"))
    assert lineage.external_nodes == []
