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
observed step is imputed with the channel's training mean. Fitted per channel: the training split's mean and
standard deviation of its observed cells (`SequenceStats`); in the model, `SequenceEncoder` z-scores the steps and
adds an observed-step flag as a last channel, and the deep branch's tower (GRU or TCN) reads them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from feature_columns.errors import DataError, SpecError
from feature_columns.kinds.base import Builder, Column
from feature_columns.names import safe_name
from feature_columns.values import numeric_values, signed_log1p

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
class SequenceStats:
    """Per channel of a sequence: the training split's mean and std of its observed cells (after the
    signed log1p of `log_scaled` channels), and the share of masked (all-missing) steps."""

    json_key = "channel_mean"
    channel_mean: tuple[float, ...]
    channel_std: tuple[float, ...]
    masked_rate: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "channel_mean": list(self.channel_mean),
            "channel_std": list(self.channel_std),
            "masked_rate": self.masked_rate,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SequenceStats:
        return cls(
            tuple(float(v) for v in data["channel_mean"]),
            tuple(float(v) for v in data["channel_std"]),
            float(data.get("masked_rate", 0.0)),
        )


@dataclasses.dataclass(frozen=True)
class SequenceChoice:
    """Whether a run with `--sequences=auto` gave its declared sequences a tower: kept in the fitted state, under
    `feature_columns.fitting.SEQUENCE_CHOICE`, so that the model is routed the same way when it is reopened.
    `auc_without` / `auc_with`: the validation AUCs of the probe without and with the sequences' steps."""

    json_key = "use_sequences"
    use_sequences: bool
    auc_without: float
    auc_with: float
    p_value: float

    @property
    def gain(self) -> float:
        return self.auc_with - self.auc_without

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SequenceChoice:
        return cls(
            bool(data["use_sequences"]), float(data["auc_without"]), float(data["auc_with"]), float(data["p_value"])
        )


@dataclasses.dataclass(frozen=True)
class SequenceColumn(Column):
    """A [steps, channels] float input of the deep branch's sequence tower.

    `columns[c][t]` is the data column holding channel c at step t (oldest first). `bin_days` is
    set for a sequence binned from the transaction log (its columns are generated); `log_scaled`
    names the channels encoded as signed log1p before the training-split z-score.
    """

    kind = "sequence"
    section = "sequences"
    entries = (SequenceStats,)

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

    @classmethod
    def from_dict(cls, entry: dict[str, Any], where: str, context: dict[str, Any]) -> SequenceColumn:
        return parse_sequence(entry, where, context.get("window_days"))

    def routed(self, route: str) -> SequenceColumn:
        """A sequence feeds the deep branch's tower whatever the model's routing."""
        return self

    def in_scorecard(self) -> SequenceColumn:
        """A sequence stays in the deep branch: its readable summaries are the columns it is built from."""
        return self

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.steps, len(self.channels))

    @property
    def data_columns(self) -> tuple[str, ...]:
        return self.source_columns

    def prepare(self, frame: pd.DataFrame, source: str, row_offset: int = 0) -> np.ndarray:
        steps = [numeric_values(frame[name], name, source, row_offset) for name in self.source_columns]
        return np.stack(steps, axis=1).reshape(len(frame), self.steps, len(self.channels))

    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> SequenceStats:
        """[rows, steps, channels] → per-channel mean/std over observed cells (see SequenceStats)."""
        values = arrays[self.name]
        means, stds = [], []
        for c, channel in enumerate(self.channels):
            cells = values[:, :, c].astype("float64").ravel()
            cells = cells[~np.isnan(cells)]
            if cells.size == 0:
                raise DataError(f"training split: sequence '{self.name}' channel '{channel}' has no non-missing values")
            if channel in self.log_scaled:
                cells = signed_log1p(cells)
            means.append(float(cells.mean()))
            stds.append(float(cells.std()) or 1.0)
        masked = float(np.isnan(values).all(axis=2).mean())
        return SequenceStats(tuple(means), tuple(stds), masked)

    def compile(self, builder: Builder) -> None:
        from feature_columns import layers

        encoder = layers.SequenceEncoder(
            [c in self.log_scaled for c in self.channels],
            builder.entry(self.name).to_json(),
            name=f"encode_sequence_{safe_name(self.name)}",
        )
        builder.add_sequence(self.name, encoder(builder.input(self.name)), self.steps, len(self.channels) + 1)

    def tree_feature(self, builder: Builder):
        raise NotImplementedError("a GBDT reads scalar columns only")

    def tabular(self, values: np.ndarray, entry) -> dict[str, Any]:
        """One column per step and channel."""
        return {
            log_column_name(self.name, channel, t): values[:, t, c]
            for t in range(self.steps)
            for c, channel in enumerate(self.channels)
        }


def log_column_name(sequence: str, channel: str, step: int) -> str:
    """The data column a transaction-log sequence's channel at `step` is written to."""
    return f"{sequence}__{channel}__{step:02d}"


def parse_sequence(entry, where: str, window_days: int | None) -> SequenceColumn:
    """One entry of the spec's `sequences:` block (see the module docstring); `where` names it in errors."""
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
    where = f"{where} ('{name}')"
    if "bin_days" in entry:
        return _log_sequence(name, entry, where, window_days, log_scaled)
    return _column_sequence(name, entry, where, log_scaled)


def _log_sequence(name: str, entry: dict, where: str, window_days: int | None, log_scaled) -> SequenceColumn:
    """A sequence binned from the transaction log: `bin_days` per step over the transactions block's window."""
    bin_days = entry["bin_days"]
    if not isinstance(bin_days, int) or isinstance(bin_days, bool) or bin_days < 1:
        raise SpecError(f"{where}: bin_days must be a positive integer, got {bin_days!r}")
    if window_days is None:
        raise SpecError(f"{where}: bin_days bins the transaction log, but the spec has no transactions block")
    channels = entry.get("channels", list(DEFAULT_LOG_CHANNELS))
    if not isinstance(channels, list) or not channels:
        raise SpecError(f"{where}: channels must be a list of {list(LOG_CHANNELS)}")
    bad = [c for c in channels if c not in LOG_CHANNELS]
    if bad:
        raise SpecError(f"{where}: unknown channel(s) {bad}; a log sequence offers {list(LOG_CHANNELS)}")
    steps = math.ceil(window_days / bin_days)
    if steps < 2:
        raise SpecError(f"{where}: bin_days={bin_days} leaves fewer than 2 bins in the {window_days}-day window")
    return SequenceColumn(
        name,
        tuple(channels),
        tuple(tuple(log_column_name(name, c, t) for t in range(steps)) for c in channels),
        bin_days=bin_days,
        log_scaled=tuple(log_scaled if log_scaled is not None else [c for c in channels if LOG_CHANNELS[c]]),
    )


def _column_sequence(name: str, entry: dict, where: str, log_scaled) -> SequenceColumn:
    """A series the data already holds in columns: each channel's columns, oldest first."""
    channels = entry.get("channels")
    if not isinstance(channels, dict) or not channels:
        raise SpecError(
            f"{where}: give bin_days (a transaction-log sequence) or channels as a mapping of "
            f"channel → its columns, oldest first (e.g. bill: [BILL_AMT6, ..., BILL_AMT1])"
        )
    for channel, cols in channels.items():
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            raise SpecError(f"{where}: channel '{channel}' must list its column names, got {cols!r}")
    return SequenceColumn(
        name,
        tuple(str(c) for c in channels),
        tuple(tuple(cols) for cols in channels.values()),
        log_scaled=tuple(log_scaled or ()),
    )
