"""Two specs and their YAML form.

- `FeatureSpec`: the dataset's schema as the user writes it: the label, the id, the raw
  transaction log, every column with its declared route, and which columns are protected.
- `ModelSpec`: a `FeatureSpec` routed for one model (`FeatureSpec.for_model`): only the
  columns that model uses, each with its final route. The preprocessing, the model and the
  export are built from a `ModelSpec`; the export carries it as its own `spec.yaml`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from feature_columns.derived import DerivedColumn, computation_order
from feature_columns.errors import SpecError
from feature_columns.kinds import SECTIONS, Column, kinds_in
from feature_columns.names import argument_name

UNNAMED = "custom"  # the name of a spec that gives none
LABEL_MISSING = ("error", "drop")

MODEL_TYPES = ("wide", "deep", "wide_deep")
# what the deep branch sees of the spec's sequences: none (the aggregates alone, the paper's model), both, or the
# sequences in place of the deep-only columns that summarise the same data (`ModelConfig.sequences_for` decides)
SEQUENCE_USES = ("aggregates", "both", "sequence")
YAML_SECTIONS = ("columns", "sequences", "crosses")
# which columns have a characteristic in the wide branch: those the spec routes there, or every input feature
SCORECARDS = ("declared", "full")  # the order a spec file lists its column sections in


@dataclasses.dataclass(frozen=True)
class LabelSpec:
    """The target column and the raw value(s) that mean default (label 1); all others must be listed as `negative`."""

    column: str
    positive: tuple = (1,)
    negative: tuple | None = None
    definition: str | None = None  # what a default means (stated in the report)
    rejected_column: str | None = None  # boolean column: rejected applications counted as defaults
    missing: str = "error"  # a row without a label: "error" (stop, naming it) or "drop" (counted and reported)

    def __post_init__(self):
        if self.missing not in LABEL_MISSING:
            raise SpecError(f"label: missing={self.missing!r} is not one of {list(LABEL_MISSING)}")
        object.__setattr__(self, "positive", tuple(self.positive))
        if self.negative is not None:
            object.__setattr__(self, "negative", tuple(self.negative))
            overlap = {str(v) for v in self.positive} & {str(v) for v in self.negative}
            if overlap:
                raise SpecError(f"label: values {sorted(overlap)} are listed as both positive and negative")


@dataclasses.dataclass(frozen=True)
class TransactionSpec:
    """Where the raw transaction log lives and what its columns are called (`wide_deep.data.aggregation`
    computes the features)."""

    path: str
    id_column: str = "enterprise_id"
    timestamp_column: str = "timestamp"
    amount_column: str = "amount"
    direction_column: str | None = "direction"
    inflow_value: str = "in"
    as_of_column: str = "application_date"
    window_days: int = 180


# the columns a transactions block adds to the data (wide_deep.data.aggregation computes them)
TRANSACTION_FEATURES = {
    "txn_count": "number of transactions in the window",
    "txn_total_amount": "sum of amounts (both directions)",
    "txn_daily_avg_amount": "total amount / window days",
    "txn_amount_variance": "sample variance of amounts",
    "txn_mean_amount": "mean amount",
    "txn_max_amount": "largest amount",
    "txn_amount_cv": "std / mean of amounts (volatility relative to mean)",
    "txn_active_day_ratio": "distinct active days / window days",
    "txn_longest_gap_days": "longest run of days without a transaction (window edges included)",
    "txn_days_since_last": "days from the last transaction to the as-of date",
    "txn_inflow_share": "share of transactions that are inflows",
    "txn_net_flow_ratio": "(inflow - outflow) / total amount",
    "txn_count_trend": "(count in recent half - count in earlier half) / count",
    "txn_amount_trend": "OLS slope of amount on time, per 30 days, relative to the mean amount",
    "txn_recent_vs_earlier": "log((last-30-day amount + 1) / (earlier monthly average + 1))",
}


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    label: LabelSpec
    columns: tuple[Column, ...]
    id_column: str | None = None
    transactions: TransactionSpec | None = None
    name: str = UNNAMED
    derived: tuple[DerivedColumn, ...] = ()  # computed from raw columns before anything reads them
    date_column: str | None = None  # each application's date: what an out-of-time split (--split=time) orders by

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "derived", tuple(self.derived))
        self.validate()

    # --- validation -------------------------------------------------------------------
    def validate(self) -> None:
        if not self.columns:
            raise SpecError("the spec has no feature columns")
        if self.date_column is not None and self.date_column == self.label.column:
            raise SpecError(f"date: '{self.date_column}' is the label column, not the applications' dates")
        kinds = self._validate_names()
        self._validate_crosses(kinds)
        reserved = {self.label.column, self.id_column} - {None}
        for col in self.input_columns:
            if col.name in reserved:
                raise SpecError(f"column '{col.name}' is the label or id column and cannot also be a feature")
        self._validate_derived(kinds, reserved)
        for seq in self.sequences:
            bad = set(seq.source_columns) & reserved
            if bad:
                raise SpecError(f"sequence '{seq.name}': reads the label or id column {sorted(bad)}")

    def _validate_names(self) -> dict[str, Column]:
        """Every column named once, and no two inputs that TensorFlow would name alike; the columns by name."""
        seen: dict[str, Column] = {}
        for col in self.columns:
            if not col.name:
                raise SpecError("a column has an empty name")
            if col.name in seen:
                raise SpecError(
                    f"column '{col.name}' is named twice in the spec ({seen[col.name].kind} and {col.kind})"
                )
            seen[col.name] = col
        by_argument: dict[str, str] = {}
        for col in self.input_columns:
            other = by_argument.setdefault(argument_name(col.name), col.name)
            if other != col.name:
                raise SpecError(
                    f"columns '{other}' and '{col.name}' differ only in characters TensorFlow cannot hold in a name "
                    f"(both become '{argument_name(col.name)}'); rename one of them"
                )
        return seen

    def _validate_crosses(self, columns: dict[str, Column]) -> None:
        crossable = [kind.kind for kind in kinds_in("columns").values() if kind.crossable is True]
        for col in self.crosses:
            for key in col.keys:
                if key not in columns:
                    raise SpecError(
                        f"cross '{col.name}': key '{key}' is not a column of the spec (known: {sorted(columns)})"
                    )
                if not columns[key].crossable:
                    raise SpecError(
                        f"cross '{col.name}': key '{key}' is {columns[key].kind}; only {', '.join(crossable)} "
                        f"columns (and numeric ones binned: wide_encoding: bins) can be crossed"
                    )

    def _validate_derived(self, columns: dict[str, Column], reserved: set) -> None:
        computation_order(self.derived)  # a circle is a SpecError
        names: set[str] = set()
        for derived in self.derived:
            if derived.name in names or derived.name in reserved:
                raise SpecError(f"derived column '{derived.name}' is named twice, or is the label or id column")
            if self.label.column in derived.sources:
                raise SpecError(
                    f"derived column '{derived.name}' is computed from the label '{self.label.column}': the model "
                    f"would see the outcome"
                )
            names.add(derived.name)
            column = columns.get(derived.name)
            if column is not None and (column.raw_dtype == "string") == derived.numeric:
                fitting = [k.kind for k in kinds_in("columns").values() if (k.raw_dtype == "string") != derived.numeric]
                expected = " or ".join(fitting)
                raise SpecError(
                    f"column '{derived.name}' is {column.kind} but its derived values ({derived.kind}) make it "
                    f"{expected}"
                )

    # --- views ------------------------------------------------------------------------
    @property
    def input_columns(self) -> tuple[Column, ...]:
        """Columns read from the data (everything but crosses): the model's raw inputs."""
        return tuple(c for c in self.columns if c.reads_data)

    def in_section(self, section: str) -> tuple[Column, ...]:
        """The columns a spec file declares in `section` (one of `feature_columns.kinds.SECTIONS`)."""
        return tuple(c for c in self.columns if c.section == section)

    @property
    def sequences(self) -> tuple[Column, ...]:
        return self.in_section("sequences")

    @property
    def log_sequences(self) -> tuple[Column, ...]:
        """The sequences binned from the transaction log (their columns are computed, not read)."""
        return tuple(seq for seq in self.sequences if seq.bin_days is not None)

    def without_sequences(self):
        """This spec without its sequences (a run that does not use them does not compute them)."""
        if not self.sequences:
            return self
        return dataclasses.replace(self, columns=tuple(c for c in self.columns if c.section != "sequences"))

    @property
    def crosses(self) -> tuple[Column, ...]:
        return self.in_section("crosses")

    @property
    def raw_feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.input_columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise SpecError(f"no column named '{name}' in the spec")

    @property
    def protected_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.input_columns if c.protected)

    def for_model(
        self,
        model_type: str,
        use_crosses: bool,
        include_protected: bool = False,
        gbdt: bool = False,
        sequences: str = "aggregates",
        scorecard: str = "declared",
        numeric_encoding: str = "spec",
    ) -> ModelSpec:
        """The routing for one of the paper's six variants (and, with `gbdt`, a GBDT in the wide branch).

        `wide_deep` keeps the declared routes; `wide` (logistic regression) sends every
        column to the linear branch; `deep` (DNN) sends every column to the MLP, categorical
        ones as embeddings. `use_crosses=False` drops the crossed columns. Columns marked
        `protected: true`, and crosses built on them, are left out of the model unless
        `include_protected` (they remain in the data for the fairness report).

        `sequences` (one of SEQUENCE_USES) says what the deep branch sees of the spec's sequence
        columns: `aggregates` leaves them out; `both` adds them; `sequence` adds them and takes out
        of the deep branch what summarises the same data (the transaction aggregates of a log
        sequence, the source columns of a column sequence), keeping their wide part.

        `numeric_encoding` other than `spec` encodes every numeric column so (e.g. `ple`, piecewise-linear
        embeddings) in place of the spec's encodings.

        `scorecard` (one of SCORECARDS): `declared` keeps the routes the spec declares (the paper: the transaction
        features in the deep branch only); `full` gives every input feature a readable characteristic in the wide
        branch as well, numeric columns as bins (their deep part is kept: the deep branch models what the
        additive part cannot).
        """
        self._check_routing(model_type, sequences)
        if scorecard not in SCORECARDS:
            raise SpecError(f"scorecard={scorecard!r} is not one of {list(SCORECARDS)}")
        protected = set() if include_protected else {c.name for c in self.protected_columns}
        columns = [
            c
            for c in self.columns
            if (use_crosses or c.section != "crosses")
            and (sequences != "aggregates" or c.section != "sequences")
            and c.name not in protected
            and not set(c.source_columns) & protected
        ]
        if sequences == "sequence":
            columns = _without_deep_summaries(columns, self)
        if model_type != "wide_deep":
            columns = [c.routed("wide" if model_type == "wide" else "deep") for c in columns]
        if scorecard == "full" and model_type != "deep":
            columns = [c.in_scorecard() for c in columns]
        if numeric_encoding != "spec":  # every numeric column's encoding, as the model's settings say
            columns = [c.numbers_encoded(numeric_encoding) for c in columns]
        return ModelSpec(
            label=self.label,
            columns=tuple(columns),
            id_column=self.id_column,
            transactions=self.transactions,
            name=self.name,
            derived=self.derived,
            date_column=self.date_column,
            gbdt=gbdt and model_type != "deep",
        )

    def _check_routing(self, model_type: str, sequences: str) -> None:
        if model_type not in MODEL_TYPES:
            raise SpecError(f"model_type={model_type!r} is not one of {list(MODEL_TYPES)}")
        if sequences not in SEQUENCE_USES:
            raise SpecError(f"sequences={sequences!r} is not one of {list(SEQUENCE_USES)}")
        if sequences != "aggregates" and not self.sequences:
            raise SpecError(
                f"the spec '{self.name}' declares no sequences (a `sequences:` block), so there is none to use"
            )
        if sequences != "aggregates" and model_type == "wide":
            raise SpecError("sequences feed the deep branch's tower; a wide-only model has none")

    @property
    def split_date_column(self) -> str | None:
        """The column an out-of-time split orders by: the spec's `date`, else its transaction log's as-of date."""
        if self.date_column:
            return self.date_column
        return self.transactions.as_of_column if self.transactions is not None else None

    # --- YAML -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "label": _label_to_dict(self.label)}
        if self.id_column:
            out["id"] = self.id_column
        if self.date_column:
            out["date"] = self.date_column
        if self.transactions is not None:
            out["transactions"] = dataclasses.asdict(self.transactions)
        if self.derived:
            out["derived"] = [d.to_dict() for d in self.derived]
        for section in YAML_SECTIONS:
            columns = self.in_section(section)
            if columns or section == "columns":
                out[section] = [c.to_dict() for c in columns]
        if getattr(self, "gbdt", False):
            out["gbdt"] = True
        return out

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=110)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "spec"):
        if not isinstance(data, dict):
            raise SpecError(f"{source}: expected a mapping with 'label' and 'columns', got {type(data).__name__}")
        routed = issubclass(cls, ModelSpec)
        unknown = (
            set(data)
            - {"name", "label", "id", "date", "transactions", "derived", "columns", "crosses", "sequences"}
            - ({"gbdt"} if routed else set())
        )
        if unknown:
            raise SpecError(
                f"{source}: unknown top-level field(s) {sorted(unknown)}; expected name, label, id, date, "
                f"transactions, derived, columns, sequences, crosses"
            )
        derived = data.get("derived") or []
        if not isinstance(derived, list):
            raise SpecError(f"{source}: 'derived' must be a list of derived columns, got {derived!r}")
        if "label" not in data:
            raise SpecError(f"{source}: missing 'label' (e.g. label: {{column: target, positive: [1]}})")
        if not data.get("columns"):
            raise SpecError(f"{source}: missing or empty 'columns' list")
        label = _parse_label(data["label"], source)
        transactions = _parse_transactions(data.get("transactions"), source)
        context = {"window_days": transactions.window_days if transactions is not None else None}
        columns = [column for section in SECTIONS for column in _parse_section(data, section, source, context)]
        if not isinstance(data.get("gbdt", False), bool):
            raise SpecError(f"{source}: 'gbdt' must be true or false, got {data['gbdt']!r}")
        extra = {"gbdt": data.get("gbdt", False)} if routed else {}
        date = data.get("date")
        if date is not None and (not isinstance(date, str) or not date):
            raise SpecError(f"{source}: 'date' must name the column of application dates, got {date!r}")
        return cls(
            label=label,
            columns=tuple(columns),
            id_column=data.get("id"),
            date_column=date,
            transactions=transactions,
            name=_parse_name(data.get("name", UNNAMED), source),
            derived=tuple(DerivedColumn.from_dict(d, f"{source}: derived[{i}]") for i, d in enumerate(derived)),
            **extra,
        )

    @classmethod
    def from_yaml(cls, path: str | Path):
        path = Path(path)
        if not path.exists():
            raise SpecError(f"spec file {path} does not exist")
        if path.is_dir():
            raise SpecError(f"spec file {path} is a directory; expected a YAML file")
        try:
            data = load_spec_yaml(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise SpecError(f"{path}: not valid YAML: {' '.join(str(err).split())[:300]}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError(f"spec file {path} cannot be read: {err}") from None
        return cls.from_dict(data, source=str(path))


class SpecLoader(yaml.SafeLoader):
    """YAML with the core schema's plain scalars (YAML 1.2): only true/false are booleans, only plain decimal
    numbers are numbers. PyYAML's YAML 1.1 rules would turn `NO` (Norway), `yes`, `on` into booleans, `010`
    into 8 and `1:30` into 90, silently changing vocabularies and label values; these stay the text written."""


_REPLACED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?=[-+]?\.?[0-9])[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?=[-+]?\.?[0-9])[-+]?(?:0|[1-9][0-9]*)?(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def load_spec_yaml(text: str):
    """A spec file's YAML, read with `SpecLoader`."""
    return yaml.load(text, Loader=SpecLoader)  # SpecLoader is a SafeLoader


def _parse_name(name, source: str) -> str:
    """The spec's `name`: it names the run's dataset in logs, metrics and the default results folder."""
    name = str(name).strip()
    if not name or any(sep in name for sep in ("/", "\\")) or name in (".", ".."):
        raise SpecError(f"{source}: name {name!r} must be a non-empty word without path separators (e.g. name: loans)")
    return name


def _label_to_dict(label: LabelSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"column": label.column, "positive": list(label.positive)}
    if label.negative is not None:
        out["negative"] = list(label.negative)
    out.update({k: v for k, v in (("definition", label.definition), ("rejected_column", label.rejected_column)) if v})
    if label.missing != "error":
        out["missing"] = label.missing
    return out


def _parse_label(data, source: str) -> LabelSpec:
    if isinstance(data, str):
        return LabelSpec(column=data)
    if not isinstance(data, dict) or "column" not in data:
        raise SpecError(f"{source}: label must be a mapping with 'column' (and 'positive'), got {data!r}")
    extra = set(data) - {"column", "positive", "negative", "definition", "rejected_column", "missing"}
    if extra:
        raise SpecError(f"{source}: label has unknown field(s) {sorted(extra)}")
    return LabelSpec(
        column=str(data["column"]),
        positive=as_tuple(data.get("positive", [1])),
        negative=None if data.get("negative") is None else as_tuple(data["negative"]),
        definition=data.get("definition"),
        rejected_column=data.get("rejected_column"),
        missing=str(data.get("missing", "error")),
    )


def as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _parse_transactions(data, source: str) -> TransactionSpec | None:
    if not data:
        return None
    fields = {f.name for f in dataclasses.fields(TransactionSpec)}
    if not isinstance(data, dict) or set(data) - fields or "path" not in data:
        raise SpecError(
            f"{source}: transactions needs 'path' and accepts {sorted(fields)}; got "
            f"{sorted(data) if isinstance(data, dict) else data!r}"
        )
    return TransactionSpec(**data)


def _parse_section(data: dict[str, Any], section: str, source: str, context: dict[str, Any]) -> list[Column]:
    """The columns of one section of a spec (`columns`, `crosses`, `sequences`), each parsed by its kind."""
    entries = data.get(section) or []
    if not isinstance(entries, list):
        raise SpecError(f"{source}: '{section}' must be a list, got {entries!r}")
    kinds = kinds_in(section)
    columns = []
    for index, entry in enumerate(entries):
        where = f"{source}: {section}[{index}]"
        if not isinstance(entry, dict):
            raise SpecError(f"{where}: expected a mapping, got {entry!r}")
        if section == "columns":
            kind = kinds.get(entry.get("type"))
            if kind is None:
                raise SpecError(
                    f"{where} ('{entry.get('name', '?')}'): type={entry.get('type')!r}; expected one of "
                    f"{', '.join(kinds)} (crosses go under 'crosses', sequences under 'sequences')"
                )
            entry = {k: v for k, v in entry.items() if k != "type"}
        else:
            (kind,) = kinds.values()
        columns.append(kind.from_dict(entry, where, context))
    return columns


@dataclasses.dataclass(frozen=True)
class ModelSpec(FeatureSpec):
    """A spec routed for one model: every column here is a model input, with its final route.

    Made by `FeatureSpec.for_model`, or read back from an export's `spec.yaml`. With `gbdt`, the
    leaves of gradient-boosted trees over all its inputs are wide columns too (`feature_columns.trees`).
    """

    gbdt: bool = False

    def for_model(self, model_type: str, use_crosses: bool, include_protected: bool = False, gbdt: bool = False):
        raise SpecError("a ModelSpec is already routed; route the dataset's FeatureSpec instead")

    @property
    def has_wide_columns(self) -> bool:
        """Some column has a characteristic in the wide branch."""
        return any(c.route in ("wide", "both") for c in self.input_columns)

    def with_crosses(self, crosses) -> ModelSpec:
        """This routed spec with more crosses (proposed ones: `wide_deep.core.pairs`), those not already in it."""
        names = {c.name for c in self.columns}
        return dataclasses.replace(self, columns=self.columns + tuple(c for c in crosses if c.name not in names))


def _without_deep_summaries(columns: list, spec: FeatureSpec) -> list:
    """`columns` without the deep-branch use of what the spec's sequences summarise: the transaction
    aggregates (log sequences) and the sequences' own source columns (column sequences)."""
    summaries = set()
    for seq in spec.sequences:
        summaries |= set(TRANSACTION_FEATURES) if seq.bin_days is not None else set(seq.source_columns)
    out = []
    for col in columns:
        if col.section == "sequences" or col.name not in summaries or col.route == "wide":
            out.append(col)
        elif col.route == "both":
            out.append(col.routed("wide"))
    return out


def load_spec(path: str | Path) -> FeatureSpec:
    return FeatureSpec.from_yaml(path)
