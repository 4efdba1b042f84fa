"""Render an HTML report in a real headless Chromium and find what does not fit the page horizontally.

Parsing the HTML cannot tell whether a table is wider than the page: only a browser's layout can. Each report is
copied with a small script appended that, after the page has loaded, lists
- elements whose right edge lies beyond the viewport (the page scrolls sideways), and
- elements whose content is wider than their box (a table scrolling inside itself, text cut off),
and the DOM Chromium dumps (`--dump-dom`) carries that list back. A page built to overflow is checked first, so a
check that can no longer see overflow fails instead of passing everything (`self_test`).
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from feature_columns.errors import UserError

RESULT_ID = "wdc-layout-check"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Chromium on a machine without a network or a display: no sandbox (root), no GPU, no background connections
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

# Runs after load; appends <pre id=RESULT_ID>{json}</pre>. Only the outermost offending element is listed.
PROBE = (
    """<script>
window.addEventListener('load', function () {
  var viewport = document.documentElement.clientWidth, found = [], flagged = [];
  function section(el) {
    var heading = '', id = '';
    for (var n = el; n && !heading; n = n.parentElement)
      for (var p = n.previousElementSibling; p && !heading; p = p.previousElementSibling)
        if (/^H[1-4]$/.test(p.tagName)) heading = p.textContent.trim().slice(0, 60);
    var enclosing = el.closest('section[id]');
    if (enclosing) id = enclosing.id;
    return [id, heading].filter(Boolean).join(' > ') || '(top)';
  }
  function label(el) {
    var text = (el.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 50);
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (text ? ' "' + text + '"' : '');
  }
  document.body.querySelectorAll('*').forEach(function (el) {
    if (flagged.some(function (f) { return f.contains(el); })) return;
    var box = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (box.width === 0 || style.display === 'none') return;
    if (box.right > viewport + 1) {
      found.push({element: label(el), section: section(el), problem: 'beyond the page',
                  right_px: Math.round(box.right), viewport_px: viewport});
      flagged.push(el);
    } else if (style.overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1) {
      found.push({element: label(el), section: section(el), problem: 'content wider than its box',
                  content_px: el.scrollWidth, box_px: el.clientWidth});
      flagged.push(el);
    }
  });
  var out = document.createElement('pre');
  out.id = '"""
    + RESULT_ID
    + """';
  out.textContent = JSON.stringify({viewport_px: viewport, page_px: document.documentElement.scrollWidth,
                                    height_px: document.documentElement.scrollHeight, overflow: found});
  document.body.appendChild(out);
});
</script>"""
)


@dataclasses.dataclass(frozen=True)
class Layout:
    """What the browser measured on one page at one window width."""

    viewport_px: int
    page_px: int
    height_px: int
    overflow: list[dict]

    def describe(self) -> list[str]:
        lines = []
        for o in self.overflow:
            if o["problem"] == "beyond the page":
                size = f"right edge at {o['right_px']} px, window {o['viewport_px']} px"
            else:
                size = f"content {o['content_px']} px in a box of {o['box_px']} px"
            lines.append(f"section {o['section']}: {o['element']}: {o['problem']} ({size})")
        return lines


def find_browser(explicit: str = "") -> str:
    """The Chromium executable: `explicit`, or the first of BROWSERS on PATH; a UserError naming the fix if none."""
    for name in [explicit] if explicit else BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise UserError(
        f"no headless browser found ({explicit or ', '.join(BROWSERS)}): install Debian's chromium "
        f"(`apt-get install chromium`; `make check-report` does this when run as root) or pass --browser"
    )


def with_probe(page: str) -> str:
    """The page with the layout probe appended to its body."""
    return page.replace("</body>", PROBE + "</body>", 1) if "</body>" in page else page + PROBE


def _chromium(browser: str, width: int, height: int, *arguments: str, timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="wdc-chromium-") as profile:
        command = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        try:
            return subprocess.run([*command, *arguments], capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise UserError(f"{browser} did not finish within {timeout:.0f} s ({' '.join(arguments[-1:])})") from err


def measure(page_path: str | Path, browser: str, width: int = 1280, timeout: float = 120) -> Layout:
    """Load `page_path` (with the probe) in headless Chromium at `width` px and read back what overflows."""
    page_path = Path(page_path)
    try:
        page = page_path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"{page_path}: cannot read the report ({err.strerror})") from err
    with tempfile.TemporaryDirectory(prefix="wdc-layout-") as tmp:
        probed = Path(tmp) / "page.html"
        probed.write_text(with_probe(page), encoding="utf-8")
        done = _chromium(
            browser, width, 900, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri(), timeout=timeout
        )
    found = re.search(f'<pre id="{RESULT_ID}">(.*?)</pre>', done.stdout, re.S)
    if not found:
        tail = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1][:200]
        raise UserError(f"{page_path}: {browser} returned no layout (exit {done.returncode}: {tail})")
    return Layout(**json.loads(html.unescape(found.group(1))))


def screenshot(
    page_path: str | Path, out_path: str | Path, browser: str, width: int, height: int, timeout: float = 120
) -> Path:
    """A PNG of the whole page at `width` px (height from `measure`), for a person to look at."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.partial.png")
    _chromium(
        browser,
        width,
        min(height, 16000),
        f"--screenshot={partial}",
        Path(page_path).resolve().as_uri(),
        timeout=timeout,
    )
    if not partial.exists():
        raise UserError(f"{browser} wrote no screenshot of {page_path}")
    partial.replace(out_path)
    return out_path


# A page made to overflow both ways (a wide table scrolling inside its box, a wide block beyond the page) and
# one that fits; the report's own style sheet, so the check sees what the report's tables do.
def self_test_pages(style: str) -> tuple[str, str]:
    head = f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"
    wide_table = "<table><tr>" + "".join(f"<th>a_rather_long_column_name_{i}</th>" for i in range(40)) + "</tr></table>"
    overflowing = head + "<h2>wide</h2>" + wide_table + "<div style='width:3000px'>wide block</div></body></html>"
    fitting = head + "<h2>narrow</h2><table><tr><th>a</th><td>1</td></tr></table><p>text</p></body></html>"
    return overflowing, fitting


def self_test(browser: str, style: str, width: int = 1280) -> None:
    """Fail unless the check finds both kinds of overflow in a page made to overflow and none in one that fits."""
    overflowing, fitting = self_test_pages(style)
    with tempfile.TemporaryDirectory(prefix="wdc-selftest-") as tmp:
        paths = [Path(tmp) / "overflowing.html", Path(tmp) / "fitting.html"]
        for path, page in zip(paths, (overflowing, fitting)):
            path.write_text(page, encoding="utf-8")
        seen = {o["problem"] for o in measure(paths[0], browser, width).overflow}
        clean = measure(paths[1], browser, width).overflow
    if seen != {"beyond the page", "content wider than its box"} or clean:
        raise UserError(
            f"the layout check is broken: on a page built to overflow it saw {sorted(seen)}, "
            f"on a page that fits {len(clean)} problem(s)"
        )
