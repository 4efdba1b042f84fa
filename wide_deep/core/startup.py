"""TensorFlow's start-up chatter, filtered: a CPU machine should not greet the user with a CUDA error.

Importing TensorFlow writes five to nine lines to stderr before its logging is configured
(so `TF_CPP_MIN_LOG_LEVEL` cannot hide them), one of them an `E` line (`failed call to
cuInit`) on every machine without an NVIDIA driver. `quiet_tensorflow_import()` makes the first
`import tensorflow`, wherever it happens, run with stderr captured, then writes back every line
that is not one of these known notices: a real error at import time still reaches the user.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from pathlib import Path

# Notices TensorFlow prints at import on every CPU machine; nothing the user can act on.
STARTUP_NOTICES = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"^I\d{4} .*\] oneDNN custom operations are on\."),
    re.compile(r"^I\d{4} .*\] Could not find cuda drivers on your machine, GPU will not be used\."),
    re.compile(r"^I\d{4} .*\] This TensorFlow binary is optimized to use available CPU instructions"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$"),
)
# Expected only where there is no NVIDIA driver; with one, the same line is a real problem and is shown.
NO_DRIVER_NOTICE = re.compile(r"^E\d{4} .*\] failed call to cuInit: ")
NVIDIA_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl")


def has_nvidia_driver() -> bool:
    return any(Path(path).exists() for path in NVIDIA_DRIVER_FILES)


def unexpected_lines(text: str, nvidia_driver: bool) -> list[str]:
    """The lines of TensorFlow's start-up output that are not known CPU-machine notices."""
    notices = STARTUP_NOTICES if nvidia_driver else (*STARTUP_NOTICES, NO_DRIVER_NOTICE)
    return [line for line in text.splitlines() if line.strip() and not any(p.search(line) for p in notices)]


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader's `exec_module` with file descriptor 2 sent to a temporary file."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def __getattr__(self, name):  # resource readers and the like: the wrapped loader's
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
                module.config.list_physical_devices()  # the device probe (and its cuInit line) happens now
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                text = captured.read().decode("utf-8", "replace")
                kept = unexpected_lines(text, has_nvidia_driver())
                if kept:
                    sys.stderr.write("\n".join(kept) + "\n")
                    sys.stderr.flush()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with its loader wrapped in `_QuietLoader`; then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_import() -> None:
    """Filter the start-up notices of the first `import tensorflow` of this process (no effect once imported)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
