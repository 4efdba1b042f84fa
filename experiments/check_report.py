"""Check that HTML reports fit the page in a real headless Chromium: `make check-report [REPORTS=...]`.

Each report is laid out at each `--widths` window width; anything beyond the page or wider than its own box (a
table scrolling inside itself) is listed with its section, and the command exits 1. A page built to overflow is
checked first, so a broken check fails rather than passing everything. With `--screenshot_dir` a full-page PNG
of each report at each width is written there, to look at.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path

from absl import flags

from experiments.cli import command
from feature_columns.errors import UserError

flags.DEFINE_list("reports", ["results/*/report.html"], "HTML files (glob patterns allowed) to check")
flags.DEFINE_list("widths", ["1280", "1024"], "Browser window widths in px")
flags.DEFINE_string("screenshot_dir", "", "Write a full-page PNG of each report at each width here (none if empty)")
flags.DEFINE_string(
    "browser", "", "Chromium executable (default: the first of chromium, chromium-browser, google-chrome on PATH)"
)
FLAGS = flags.FLAGS


def report_paths(patterns: list[str]) -> list[Path]:
    paths = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matched:
            raise UserError(f"--reports: no file matches {pattern!r}")
        for path in map(Path, matched):
            if not path.is_file():
                raise UserError(f"--reports: {path} is not a file")
            paths.append(path)
    return paths


def widths(values: list[str]) -> list[int]:
    try:
        parsed = [int(v) for v in values]
    except ValueError as err:
        raise UserError(f"--widths: expected whole numbers of pixels, got {values}") from err
    if not parsed or min(parsed) < 320:
        raise UserError(f"--widths: expected widths of at least 320 px, got {values}")
    return parsed


def check_reports() -> None:
    from wide_deep.evidence import layout_check
    from wide_deep.evidence.report import STYLE

    paths, sizes = report_paths(FLAGS.reports), widths(FLAGS.widths)
    browser = layout_check.find_browser(FLAGS.browser)
    layout_check.self_test(browser, STYLE, sizes[0])
    print(f"self-test passed: {browser} sees overflow in a page built to overflow and none in one that fits")
    failures = 0
    for path in paths:
        for width in sizes:
            layout = layout_check.measure(path, browser, width)
            problems = layout.describe()
            failures += len(problems)
            verdict = "fits" if not problems else f"{len(problems)} element(s) do not fit"
            print(f"{path} at {width} px: {verdict} (page {layout.page_px} px wide, {layout.height_px} px high)")
            for line in problems:
                print(f"  {line}")
            if FLAGS.screenshot_dir:
                name = f"{path.parent.name}-{path.stem}-{width}.png"
                shot = layout_check.screenshot(
                    path, Path(FLAGS.screenshot_dir) / name, browser, width, layout.height_px
                )
                print(f"  screenshot: {shot}")
    if failures:
        print(f"{failures} layout problem(s) in {len(paths)} report(s)", file=sys.stderr)
        sys.exit(1)


main, run = command(check_reports)


if __name__ == "__main__":
    run()
