"""What a run reports about the machine: peak memory."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM, when there is one: `ru_maxrss` of a process started by fork+exec includes
    the RSS its parent had at the fork, so a small run launched by a big one would report the
    parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
