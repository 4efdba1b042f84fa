"""Sequence columns: a short, fixed-length series per row, fed to a recurrent or convolutional tower.

A spec declares them in its `sequences:` block, in one of two forms:

    sequences:
      # time bins over the raw transaction log (needs the spec's transactions block)
      - {name: weekly_flows, bin_days: 7, channels: [inflow_amount, outflow_amount, inflow_count, outflow_count]}
      # a series the data already holds in columns, oldest first, one list per channel
      - name: monthly
        channels:
          repayment_status: [PAY_6, PAY_5, PAY_4, PAY_3, PAY_2, PAY_0]
          bill_amount: [BILL_AMT6, BILL_AMT5, BILL_AMT4, BILL_AMT3, BILL_AMT2, BILL_AMT1]

Either way the sequence is read from flat numeric columns of the data (a log sequence's columns
are written by `wide_deep.data.sequences`, named `<name>__<channel>__<step>`) and becomes one
model input of shape [steps, channels], oldest step first (the newest step ends at the as-of
date). A step whose channels are all missing is masked (a short history); a missing cell in an
observed step is imputed with the channel's training mean.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from feature_columns.errors import SpecError

# what a time bin of the transaction log can hold, and whether its values are heavy-tailed (signed-log encoded)
LOG_CHANNELS = {
    "inflow_amount": True,
    "outflow_amount": True,
    "amount": True,
    "inflow_count": True,
    "outflow_count": True,
    "count": True,
    "mean_log_amount": False,
    "max_amount": True,
}
DEFAULT_LOG_CHANNELS = ("inflow_amount", "outflow_amount", "inflow_count", "outflow_count")


@dataclasses.dataclass(frozen=True)
class SequenceColumn:
    """A [steps, channels] float input of the deep branch's sequence tower.

    `columns[c][t]` is the data column holding channel c at step t (oldest first). `bin_days` is
    set for a sequence binned from the transaction log (its columns are generated); `log_scaled`
    names the channels encoded as signed log1p before the training-split z-score.
    """

    kind = "sequence"

    name: str
    channels: tuple[str, ...]
    columns: tuple[tuple[str, ...], ...]
    bin_days: int | None = None
    log_scaled: tuple[str, ...] = ()
    route: str = "deep"
    protected: bool = False

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "columns", tuple(tuple(c) for c in self.columns))
        object.__setattr__(self, "log_scaled", tuple(self.log_scaled))
        if not self.channels or len(self.channels) != len(self.columns):
            raise SpecError(f"sequence '{self.name}': needs at least one channel, each with its columns")
        steps = {len(c) for c in self.columns}
        if len(steps) != 1 or min(steps) < 2:
            raise SpecError(
                f"sequence '{self.name}': every channel needs the same number (≥ 2) of step columns, got "
                + ", ".join(f"{ch}: {len(c)}" for ch, c in zip(self.channels, self.columns))
            )
        if len(set(self.channels)) != len(self.channels):
            raise SpecError(f"sequence '{self.name}': a channel is named twice: {list(self.channels)}")
        unknown = set(self.log_scaled) - set(self.channels)
        if unknown:
            raise SpecError(f"sequence '{self.name}': log_scaled names unknown channel(s) {sorted(unknown)}")
        if self.route != "deep":
            raise SpecError(f"sequence '{self.name}': a sequence goes to the deep branch only (route: deep)")

    @property
    def steps(self) -> int:
        return len(self.columns[0])

    @property
    def source_columns(self) -> tuple[str, ...]:
        """The data columns, step-major: step 0's channels, then step 1's, ..."""
        return tuple(self.columns[c][t] for t in range(self.steps) for c in range(len(self.channels)))

    def steps_of(self, values) -> list[list]:
        """A row's sequence as [steps][channels] values (oldest step first), from a mapping of its data columns."""
        return [[values[cols[t]] for cols in self.columns] for t in range(self.steps)]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.bin_days is not None:
            out.update(bin_days=self.bin_days, channels=list(self.channels))
            if set(self.log_scaled) != {c for c in self.channels if LOG_CHANNELS[c]}:
                out["log_scaled"] = list(self.log_scaled)
        else:
            out["channels"] = {ch: list(cols) for ch, cols in zip(self.channels, self.columns)}
            if self.log_scaled:
                out["log_scaled"] = list(self.log_scaled)
        return out


def log_column_name(sequence: str, channel: str, step: int) -> str:
    """The data column a transaction-log sequence's channel at `step` is written to."""
    return f"{sequence}__{channel}__{step:02d}"


def parse_sequence(entry, index: int, source: str, window_days: int | None) -> SequenceColumn:
    """One entry of the spec's `sequences:` block (see the module docstring)."""
    where = f"{source}: sequences[{index}]"
    if not isinstance(entry, dict) or not entry.get("name"):
        raise SpecError(f"{where}: expected a mapping with 'name' and 'channels', got {entry!r}")
    name = str(entry["name"])
    allowed = {"name", "channels", "bin_days", "log_scaled"}
    unknown = set(entry) - allowed
    if unknown:
        raise SpecError(f"{where} ('{name}'): unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    log_scaled = entry.get("log_scaled")
    if log_scaled is not None and not isinstance(log_scaled, list):
        raise SpecError(f"{where} ('{name}'): log_scaled must be a list of channel names, got {log_scaled!r}")
    if "bin_days" in entry:
        bin_days = entry["bin_days"]
        if not isinstance(bin_days, int) or isinstance(bin_days, bool) or bin_days < 1:
            raise SpecError(f"{where} ('{name}'): bin_days must be a positive integer, got {bin_days!r}")
        if window_days is None:
            raise SpecError(
                f"{where} ('{name}'): bin_days bins the transaction log, but the spec has no transactions block"
            )
        channels = entry.get("channels", list(DEFAULT_LOG_CHANNELS))
        if not isinstance(channels, list) or not channels:
            raise SpecError(f"{where} ('{name}'): channels must be a list of {list(LOG_CHANNELS)}")
        bad = [c for c in channels if c not in LOG_CHANNELS]
        if bad:
            raise SpecError(f"{where} ('{name}'): unknown channel(s) {bad}; a log sequence offers {list(LOG_CHANNELS)}")
        steps = math.ceil(window_days / bin_days)
        if steps < 2:
            raise SpecError(
                f"{where} ('{name}'): bin_days={bin_days} leaves fewer than 2 bins in the {window_days}-day window"
            )
        return SequenceColumn(
            name,
            tuple(channels),
            tuple(tuple(log_column_name(name, c, t) for t in range(steps)) for c in channels),
            bin_days=bin_days,
            log_scaled=tuple(log_scaled if log_scaled is not None else [c for c in channels if LOG_CHANNELS[c]]),
        )
    channels = entry.get("channels")
    if not isinstance(channels, dict) or not channels:
        raise SpecError(
            f"{where} ('{name}'): give bin_days (a transaction-log sequence) or channels as a mapping of "
            f"channel → its columns, oldest first (e.g. bill: [BILL_AMT6, ..., BILL_AMT1])"
        )
    for channel, cols in channels.items():
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            raise SpecError(f"{where} ('{name}'): channel '{channel}' must list its column names, got {cols!r}")
    return SequenceColumn(
        name,
        tuple(str(c) for c in channels),
        tuple(tuple(cols) for cols in channels.values()),
        log_scaled=tuple(log_scaled or ()),
    )
