"""Where a run came from, for a model-governance file: data checksums, code version, time."""

from __future__ import annotations

import datetime
import glob
import hashlib
import subprocess
from pathlib import Path

import pandas as pd

from wide_deep.data.registry import PROJECT_ROOT


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_checksums(sources) -> dict[str, str]:
    """sha256 of each data source: a file, every file of a folder (one digest over their digests in name order),
    every file a glob matches, or a DataFrame (a digest of its row hashes)."""
    out = {}
    for source in sources:
        if source is None:
            continue
        if isinstance(source, pd.DataFrame):
            rows = pd.util.hash_pandas_object(source, index=False).to_numpy()
            out["DataFrame"] = hashlib.sha256(rows.tobytes()).hexdigest()
            continue
        path = Path(source)
        if path.is_file():
            out[str(path)] = file_sha256(path)
            continue
        files = (
            sorted(p for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else sorted(Path(p) for p in glob.glob(str(source)) if Path(p).is_file())
        )
        if files:
            digest = hashlib.sha256("".join(f"{f.name}:{file_sha256(f)}\n" for f in files).encode())
            out[str(source)] = f"{digest.hexdigest()} ({len(files)} files)"
    return out


def code_version() -> str:
    """The git commit of a source checkout (with -dirty for uncommitted changes), else the installed version."""
    if (PROJECT_ROOT / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            return f"git {commit}{'-dirty' if dirty else ''}"
        except (OSError, subprocess.SubprocessError):
            pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"wide-deep-credit {version('wide-deep-credit')}"
    except PackageNotFoundError:
        return "unknown"


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
