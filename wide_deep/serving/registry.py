"""The model a server serves: the newest loadable export of a model_dir, swapped for newer ones as they appear."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from feature_columns.errors import UserError
from wide_deep.record.model_dir import ModelDir
from wide_deep.serving.saved_model import LoadedExport, load_newest

log = logging.getLogger("wide_deep.serving")


def load_version(path: Path) -> LoadedExport:
    """Load a version and run it once (trace and allocate before it takes traffic)."""
    model = LoadedExport(path)
    model.warm_up()
    return model


class ModelRegistry:
    """Serves the newest loadable version in `model_dir/export/`; a background poller swaps in newer ones.

    A version that fails to load (e.g. caught while still being copied) is retried with a
    backoff (poll interval × 2^failures, at most `MAX_RETRY_SECONDS`); an error while listing
    the folder is logged and the next poll tries again. `status()` says which version is
    served and when the folder was last read successfully.
    """

    MAX_RETRY_SECONDS = 60.0

    def __init__(self, model_dir: str | Path, poll_seconds: float = 2.0):
        self.run = ModelDir(model_dir)
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._failures: dict[int, tuple[int, float]] = {}  # version → (failed attempts, monotonic time of the next)
        versions = self.run.export_versions()
        if not versions:
            raise UserError(
                f"{self.run} has no export (expected {self.run.export_root}/<version>/saved_model.pb); "
                f"train with `make train` first"
            )
        self._current = load_newest(versions, log=log.warning)
        self._current.warm_up()
        self.last_poll: float | None = time.time()
        self.last_poll_error: str | None = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def current(self) -> LoadedExport:
        return self._current  # a plain reference read: requests keep the object they started with

    def reload_if_newer(self) -> bool:
        """Swap in the newest version newer than the served one that loads; False when there is none."""
        try:
            versions = self.run.export_versions()
        except OSError as error:  # e.g. too many open files: the server keeps serving and tries again
            self.last_poll_error = f"{type(error).__name__}: {error}"
            log.error(
                "cannot list %s (still serving version %d): %s",
                self.run.export_root,
                self._current.version,
                self.last_poll_error,
            )
            return False
        self.last_poll, self.last_poll_error = time.time(), None
        now = time.monotonic()
        for path in reversed(versions):
            version = int(path.name)
            if version <= self._current.version:
                return False
            attempts, not_before = self._failures.get(version, (0, 0.0))
            if now < not_before:
                continue
            try:
                candidate = load_version(path)
            except Exception as error:  # a broken or half-copied export must not take the server down
                delay = min(self.poll_seconds * 2**attempts, self.MAX_RETRY_SECONDS)
                self._failures[version] = (attempts + 1, now + delay)
                log.error(
                    "could not load version %d (still serving %d; retrying in %.0f s): %s: %s",
                    version,
                    self._current.version,
                    delay,
                    type(error).__name__,
                    str(error).splitlines()[0][:200],
                )
                continue
            with self._lock:
                self._current = candidate
            self._failures.pop(version, None)
            log.warning("now serving version %d from %s", candidate.version, candidate.path)
            return True
        return False

    def status(self) -> dict:
        return {
            "served_version": self._current.version,
            "last_successful_poll": None
            if self.last_poll is None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.last_poll)),
            "last_poll_error": self.last_poll_error,
            "versions_failing_to_load": sorted(self._failures),
        }

    def start(self) -> None:
        def poll():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.reload_if_newer()
                except Exception as error:  # the poller must outlive any one bad poll
                    self.last_poll_error = f"{type(error).__name__}: {error}"
                    log.error("export poll failed: %s", self.last_poll_error)

        self._poller = threading.Thread(target=poll, name="export-poller", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()
