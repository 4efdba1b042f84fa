"""The peak-memory figure a run reports."""

from wide_deep.record.resources import peak_rss_mb


def test_peak_memory_grows_with_what_the_process_holds():
    before = peak_rss_mb()
    block = bytearray(200 * 1024 * 1024)  # 200 MB, touched
    block[::4096] = b"x" * len(block[::4096])
    assert peak_rss_mb() >= before and peak_rss_mb() > 150
