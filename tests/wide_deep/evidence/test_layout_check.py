"""The headless-browser layout check's own logic (the browser run itself is `make check-report`, which checks
first that it sees overflow in a page built to overflow)."""

from __future__ import annotations

import pytest

from experiments.check_report import report_paths, widths
from feature_columns.errors import UserError
from wide_deep.evidence.layout_check import RESULT_ID, Layout, find_browser, self_test_pages, with_probe
from wide_deep.evidence.report import STYLE


def test_the_probe_goes_at_the_end_of_the_body_once():
    page = "<html><body><p>x</p></body></html>"
    probed = with_probe(page)
    assert probed.count("<script>") == 1 and probed.index("<script>") > probed.index("<p>x</p>")
    assert probed.endswith("</body></html>") and RESULT_ID in probed
    assert with_probe("<p>no body tag</p>").startswith("<p>no body tag</p><script>")


def test_problems_name_the_section_element_and_sizes():
    layout = Layout(
        viewport_px=1024,
        page_px=1400,
        height_px=900,
        overflow=[
            {"element": "div", "section": "(top)", "problem": "beyond the page", "right_px": 1400, "viewport_px": 1024},
            {
                "element": 'table "group count"',
                "section": "fairness > gender",
                "problem": "content wider than its box",
                "content_px": 1120,
                "box_px": 1100,
            },
        ],
    )
    assert layout.describe() == [
        "section (top): div: beyond the page (right edge at 1400 px, window 1024 px)",
        'section fairness > gender: table "group count": content wider than its box (content 1120 px in a box of '
        "1100 px)",
    ]


def test_the_self_test_pages_use_the_report_style_and_one_overflows():
    overflowing, fitting = self_test_pages(STYLE)
    assert STYLE in overflowing and STYLE in fitting
    assert "width:3000px" in overflowing and "<th>a_rather_long_column_name_39</th>" in overflowing
    assert "3000px" not in fitting


def test_a_missing_browser_is_named_with_the_fix():
    with pytest.raises(UserError, match="no headless browser found.*apt-get install chromium"):
        find_browser("no-such-browser-here")


def test_report_paths_and_widths_are_checked(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "report.html").write_text("<html></html>")
    assert report_paths([str(tmp_path / "*" / "report.html")]) == [tmp_path / "a" / "report.html"]
    with pytest.raises(UserError, match="no file matches"):
        report_paths([str(tmp_path / "*" / "absent.html")])
    with pytest.raises(UserError, match="is not a file"):
        report_paths([str(tmp_path / "a")])
    assert widths(["1280", "1024"]) == [1280, 1024]
    with pytest.raises(UserError, match="whole numbers"):
        widths(["wide"])
    with pytest.raises(UserError, match="at least 320"):
        widths(["100"])
