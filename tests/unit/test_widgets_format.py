"""The widgets' pure display rules: rows, facet labels, sizes, dates, status lines, details."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from jwstnb.schema import ImageMetadata, JwstDataModel
from jwstnb.widgets import _format as fmt


def _record(**overrides: object) -> JwstDataModel:
    fields: dict[str, object] = {
        "_id": "65a1b2c3d4e5f60718293a4b",
        "file_name": "jw02733-o001_t001_nircam_clear-f090w_i2d.fits",
        "file_path": "mast/jw02733-o001_t001_nircam_clear-f090w/x_i2d.fits",
        "file_size": 3 * 1024 * 1024,
        "data_type": "image",
        "processing_level": "L3",
        "processing_status": "completed",
        "upload_date": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        "tags": ["nebula", "<script>"],
        "observation_base_id": "jw02733-o001_t001_nircam",
        "image_info": ImageMetadata(
            target_name="NGC 3132", instrument="NIRCAM", filter="F090W",
            observation_date=datetime(2022, 6, 3, 12, 0, tzinfo=UTC), exposure_time=1234.5,
        ),
        "thumbnail": b"\x89PNG fake",
    }
    fields.update(overrides)
    return JwstDataModel.model_validate(fields)


def test_import_widgets_package_does_not_load_ipywidgets() -> None:
    code = (
        "import sys, jwstnb.widgets, jwstnb.widgets._format, jwstnb.widgets._graph; "
        "print([m for m in ('ipywidgets', 'anywidget', 'matplotlib', 'astropy') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_widget_name_is_an_attribute_error() -> None:
    import jwstnb.widgets

    with pytest.raises(AttributeError, match="NoSuchWidget"):
        jwstnb.widgets.NoSuchWidget  # noqa: B018


def test_level_colours_are_the_contract_colours() -> None:
    assert fmt.LEVEL_COLOURS == {
        "L1": "#ef4444", "L2a": "#f59e0b", "L2b": "#10b981", "L3": "#3b82f6",
        "unknown": "#6b7280",
    }
    assert fmt.level_colour("L2b") == "#10b981"
    assert fmt.level_colour("L9") == "#6b7280"
    assert fmt.LEVELS[-1] == "unknown"


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, ""), (0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (3 * 1024**2, "3.0 MiB"),
     (5 * 1024**5, "5120.0 TiB")],
)
def test_human_size(size: int | None, text: str) -> None:
    assert fmt.human_size(size) == text


def test_record_row_is_flat_and_json_friendly() -> None:
    row = fmt.record_row(_record())
    assert row["id"] == "65a1b2c3d4e5f60718293a4b"
    assert row["processing_level"] == "L3" and isinstance(row["processing_level"], str)
    assert row["instrument"] == "NIRCAM"
    assert row["filter"] == "F090W"
    assert row["target_name"] == "NGC 3132"
    assert row["observation_date"] == "2022-06-03 12:00"
    assert row["upload_date"] == "2024-05-06 07:08"
    assert row["size"] == "3.0 MiB"
    assert row["has_thumbnail"] is True
    assert "thumbnail" not in row


def test_record_row_without_image_info() -> None:
    row = fmt.record_row(_record(image_info=None, thumbnail=None))
    assert row["instrument"] == row["filter"] == row["target_name"] == ""
    assert row["has_thumbnail"] is False


def test_record_dict_leaves_the_thumbnail_bytes_out() -> None:
    data = fmt.record_dict(_record())
    assert data["id"] == "65a1b2c3d4e5f60718293a4b"
    assert "thumbnail" not in data
    assert data["has_thumbnail"] is True
    assert data["image_info"]["target_name"] == "NGC 3132"


def test_facet_options_label_values_with_counts_in_level_order() -> None:
    options = fmt.facet_options("processing_level", {"L3": 2, "L1": 12, "L2b": 0, "L2a": 5})
    assert options == [("any", ""), ("L1 (12)", "L1"), ("L2a (5)", "L2a"), ("L3 (2)", "L3")]


def test_facet_options_free_values_by_count_then_name() -> None:
    options = fmt.facet_options("target_name", {"b": 3, "a": 3, "c": 10, "": 4, None: 1})
    assert [v for _, v in options] == ["", "c", "a", "b"]
    assert options[1] == ("c (10)", "c")


def test_facet_options_keep_the_selected_value_even_without_matches() -> None:
    options = fmt.facet_options("instrument", {"NIRCAM": 1500}, "MIRI")
    assert ("MIRI (0)", "MIRI") in options
    assert ("NIRCAM (1,500)", "NIRCAM") in options


def test_date_range_includes_both_days() -> None:
    lo, hi = fmt.date_range(date(2022, 6, 1), date(2022, 6, 3))
    assert lo == datetime(2022, 6, 1, tzinfo=UTC)
    assert hi == datetime(2022, 6, 3, 23, 59, 59, 999000, tzinfo=UTC)
    assert fmt.date_range(None, None) == (None, None)


def test_page_summary() -> None:
    assert fmt.page_summary(0, 1, 20) == "0 records"  # the table says why, once
    assert fmt.page_summary(1, 1, 20) == "Record 1-1 of 1 · page 1 of 1"
    assert fmt.page_summary(134, 2, 20) == "Records 21-40 of 134 · page 2 of 7"
    assert fmt.page_summary(134, 7, 20) == "Records 121-134 of 134 · page 7 of 7"
    # While the counts are on their way: the page is known, the total is not.
    assert fmt.page_summary(None, 2, 20, 20) == "Records 21-40 of ... (counting)"
    assert fmt.page_summary(None, 1, 20, 0) == "Counting..."


def test_sort_order_only_takes_the_query_sort_fields() -> None:
    from jwstnb.criteria import SORT_FIELDS

    assert fmt.sort_order("fileName") == ("fileName", False)
    assert fmt.sort_order("-fileSize") == ("fileSize", True)
    assert fmt.sort_order("-nonsense") == ("uploadDate", True)
    sortable = [c[2] for c in fmt.COLUMNS if c[2]]
    assert sortable and all(field in SORT_FIELDS for field in sortable)
    assert fmt.sort_order(fmt.DEFAULT_ORDER) == ("uploadDate", True)


def test_dates_are_iso() -> None:
    from jwstnb.errors import ValidationError

    assert fmt.parse_date(" 2024-03-01 ", "From") == date(2024, 3, 1)
    assert fmt.parse_date("", "From") is None
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        fmt.parse_date("03/01/2024", "From")
    assert fmt.format_datetime(datetime(2024, 3, 1, 5, 6, tzinfo=UTC)) == "2024-03-01 05:06"


def test_facet_labels_cover_every_query_facet() -> None:
    from jwstnb.criteria import FACETS

    assert fmt.facet_label("processing_level") == "Level"
    assert fmt.facet_label("some_new_facet") == "Some new facet"
    assert all(fmt.facet_label(key) for key in FACETS)


def test_rows_carry_ra_and_dec() -> None:
    info = ImageMetadata(target_name="NGC 3132", ra=151.757, dec=-40.436)
    row = fmt.record_row(_record(image_info=info))
    assert (row["ra"], row["dec"]) == ("151.75700", "-40.43600")
    assert "151.75700, -40.43600 deg" in fmt.detail_html(_record(image_info=info))
    assert fmt.record_row(_record(image_info=None))["ra"] == ""


def test_detail_html_escapes_every_value() -> None:
    text = fmt.detail_html(_record(description="<b>bold</b> & co"))
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in text
    assert "NGC 3132" in text and "1234.5 s" in text
    assert "#3b82f6" in text  # the L3 badge colour


def test_detail_html_shows_how_the_file_was_calibrated() -> None:
    from jwstnb.schema import Calibration

    cal = Calibration(cal_ver="1.11.4", crds_ver="11.16.21", crds_context="jwst_1100.pmap",
                      reference_files={"flat": "jwst_nircam_flat_0476.fits",
                                       "dark": "jwst_nircam_dark_0302.fits"})
    text = fmt.detail_html(_record(calibration=cal))
    assert ">Pipeline</th>" in text and ">1.11.4<" in text
    assert "11.16.21 (jwst_1100.pmap)" in text
    assert "dark: jwst_nircam_dark_0302.fits; flat: jwst_nircam_flat_0476.fits" in text
    assert "Pipeline" not in fmt.detail_html(_record())  # nothing known, nothing shown


def test_header_summary_picks_known_keywords_in_order() -> None:
    header = {"INSTRUME": "NIRCAM", "TELESCOP": "JWST", "EFFEXPTM": 1234.5, "JUNK": 1}
    assert fmt.header_summary(header) == [
        ("TELESCOP", "JWST"), ("INSTRUME", "NIRCAM"), ("EFFEXPTM", "1234.5"),
    ]
    assert "No header summary" in fmt.header_html([])
    assert ">TELESCOP</th>" in fmt.header_html([("TELESCOP", "JWST")])


def test_png_data_url() -> None:
    assert fmt.png_data_url(None) == ""
    assert fmt.png_data_url(b"abc") == "data:image/png;base64,YWJj"
