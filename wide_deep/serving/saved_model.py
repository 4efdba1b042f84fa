"""An export version loaded (`LoadedExport`): what the batch scorer, the monitor and the REST server all hold.

The files of a version are named by `wide_deep.record.export_layout`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from feature_columns.errors import UserError, first_line
from feature_columns.fitting import FittedState, state_from_json
from feature_columns.names import argument_name
from feature_columns.spec import ModelSpec
from feature_columns.values import MISSING_CATEGORY
from wide_deep.record.export_layout import EXAMPLES, EXPLAIN, PACKED, PREDICT, VersionLayout


class LoadedExport:
    """One export version in memory: its signatures, its ModelSpec and the column orders of its inputs."""

    def __init__(self, path: str | Path):
        import tensorflow as tf

        self.layout = VersionLayout(Path(path))
        self.path = self.layout.path
        self.version = int(self.path.name)
        self.saved_model = tf.saved_model.load(str(self.path))
        self.signatures = self.saved_model.signatures
        self.signature = self.signatures[PREDICT]
        self.spec = ModelSpec.from_yaml(self.layout.spec)
        # the signature's arguments are the columns' `argument_name`s; callers use the columns' own names
        arguments = dict(self.signature.structured_input_signature[1])
        self.arguments = {c.name: argument_name(c.name) for c in self.spec.input_columns}
        missing = [column for column, argument in self.arguments.items() if argument not in arguments]
        if missing or len(arguments) != len(self.arguments):
            raise UserError(f"{self.path}: the {PREDICT} signature does not take the spec's columns {missing}")
        self.input_specs = {column: arguments[argument] for column, argument in self.arguments.items()}
        # TF Serving clients send the argument names: both are accepted (`by_column_name`)
        self.aliases = {argument: column for column, argument in self.arguments.items() if argument != column}
        self.categorical = [n for n, s in self.input_specs.items() if s.dtype == tf.string]
        self.numeric = [n for n, s in self.input_specs.items() if s.dtype != tf.string and s.shape.rank == 1]
        # sequence inputs: name → (steps, channels) per row
        self.sequences = {n: tuple(s.shape[1:]) for n, s in self.input_specs.items() if s.shape.rank > 1}
        # the packed signature (one string and one float matrix) avoids per-input call overhead
        self.packed = None
        if PACKED in self.signatures and self.layout.packed_columns.exists():
            packed = json.loads(self.layout.packed_columns.read_text())
            self.categorical, self.numeric = packed["categorical"], packed["numeric"]
            self.packed = self.signatures[PACKED]
        self.output_specs = self.signature.structured_outputs
        # assets.extra/model.json: fingerprint, threshold, scaling, ... (absent from the oldest exports)
        self.model_info = json.loads(self.layout.model.read_text()) if self.layout.model.exists() else {}
        # declared columns the model does not read (protected attributes, the label): accepted and ignored by REST
        self.ignored_columns = frozenset(self.model_info.get("ignored_columns", ()))

    def call(self, signature, features: dict):
        """Run a raw-feature signature on tensors named by column (renamed to its argument names)."""
        return signature(**{self.arguments[name]: value for name, value in features.items()})

    def by_column_name(self, named: dict) -> dict:
        """`named` (a request's features) with signature argument names replaced by the columns' own names."""
        if not self.aliases:
            return named
        return {self.aliases.get(name, name): value for name, value in named.items()}

    def reason_codes(self, override: str | Path | None = None):
        """The export's reason-code table (a default one for exports written before it), with a user's file over it."""
        from wide_deep.serving.reasons import ReasonCodes

        features = self.explain_info()["contribution_features"]
        table = ReasonCodes.default(features)
        if self.layout.reason_codes.exists():
            table = ReasonCodes.read(self.layout.reason_codes, features, table)
        return ReasonCodes.read(override, features, table) if override else table

    def explain_columns(self, columns: dict[str, list]) -> dict[str, list]:
        """Validated columns → the `serving_explain` outputs as lists (reason_features: a list of names per row)."""
        return _as_lists(self.call(self.require(EXPLAIN), self._tensors(columns)))

    def _tensors(self, columns: dict[str, list]) -> dict:
        import tensorflow as tf

        return {n: tf.constant(columns[n], self.input_specs[n].dtype) for n in self.input_specs}

    def decline_at(self, rule: str) -> float:
        """The probability cut-off of a scoring-time override (`make predict --cutoff`, a REST request's cutoff):
        `probability:P` as it is, `score:S` through the export's scorecard scaling (decline at S points or fewer).
        A UserError for any other rule (`approval:R` needs the validation split, which only training has)."""
        from wide_deep.evidence.metrics import parse_cutoff
        from wide_deep.evidence.scorecard import Scaling

        kind, value = parse_cutoff(rule)
        if kind not in ("probability", "score"):
            raise UserError(f"--cutoff={rule}: at scoring time, give probability:P or score:S")
        if kind == "probability":
            return value
        return Scaling(**self.model_info.get("scorecard", {})).probability(value)

    def require(self, signature: str):
        if signature not in self.signatures:
            raise UserError(
                f"{self.path} has no {signature} signature (exported by an older version, or trained without the "
                f"evidence); retrain"
            )
        return self.signatures[signature]

    def state(self) -> FittedState:
        return state_from_json(self.layout.preprocessing.read_text(), str(self.layout.preprocessing))

    @property
    def fingerprint(self) -> str | None:
        """The trained weights' fingerprint (None for exports written before it was recorded)."""
        return self.model_info.get("fingerprint")

    def explain_info(self) -> dict:
        """Feature order, intercept and baseline of the `serving_explain` contributions."""
        return json.loads(self.layout.explain.read_text())

    def example_columns(self) -> dict[str, list]:
        """One row of missing values: every input present, nothing known."""
        return (
            {n: [MISSING_CATEGORY] for n in self.categorical}
            | {n: [float("nan")] for n in self.numeric}
            | {n: [np.full(shape, np.nan).tolist()] for n, shape in self.sequences.items()}
        )

    def predict_columns(self, columns: dict[str, list]) -> dict[str, list]:
        """Validated columns (canonical strings / floats with NaN for missing) → output lists."""
        import tensorflow as tf

        if self.packed is not None:
            rows = range(len(columns[next(iter(self.input_specs))]))
            categorical = [[columns[n][i] for n in self.categorical] for i in rows]
            numeric = np.array([[columns[n][i] for n in self.numeric] for i in rows], dtype=np.float32)
            outputs = self.packed(
                categorical=tf.constant(categorical, tf.string, shape=(len(rows), len(self.categorical))),
                numeric=tf.constant(numeric, shape=(len(rows), len(self.numeric))),
            )
        else:
            outputs = self.call(self.signature, self._tensors(columns))
        return _as_lists(outputs)

    def warm_up(self) -> list[str]:
        """Trace and allocate before taking traffic: replay the version's TensorFlow Serving warm-up requests
        (one row per signature) for the signatures this project calls, or, for an export written before them,
        score one row of missing values. Returns the signatures warmed."""
        from wide_deep.serving.warmup import read_warmup_requests

        if not self.layout.warmup.exists():
            self.predict_columns(self.example_columns())
            return [PACKED if self.packed is not None else PREDICT]
        warmed = []
        for name, inputs in read_warmup_requests(self.layout.warmup):
            if name == EXAMPLES:  # only TensorFlow Serving's clients send tf.Examples: nothing here calls it
                continue
            self.require(name)(**inputs)
            warmed.append(name)
        return warmed


DECISION_NAMES = np.array(["approve", "decline"])  # the signatures' decision 0 and 1


def decision_names(decision) -> np.ndarray:
    """The signatures' numeric decision (1 = decline, the number TensorFlow Serving's protocol carries) as the words
    `make predict`, the Python API and the REST server answer with, which nobody reads the wrong way round."""
    return DECISION_NAMES[np.asarray(decision).astype(int)]


def whole_points(score) -> np.ndarray:
    """Scorecard points as scorecards print them, whole (the exact value is given beside them as `score_exact`)."""
    return np.rint(np.asarray(score, dtype="float64")).astype("int64")


def _as_lists(outputs: dict) -> dict[str, list]:
    """A signature's output tensors as (nested) lists, strings decoded."""
    result = {}
    for name, tensor in outputs.items():
        values = tensor.numpy()
        if values.dtype == object:
            values = np.vectorize(bytes.decode, otypes=[object])(values) if values.size else values.astype(str)
        result[name] = values.tolist()
    return result


def load_newest(versions: list[Path], log=print) -> LoadedExport:
    """The newest version that loads; each one skipped is named with its reason (a damaged or half-copied export
    must not stop scoring while an older one is intact)."""
    for path in reversed(versions):
        try:
            return LoadedExport(path)
        except Exception as err:  # a damaged SavedModel fails in many ways, all of them mean "skip it"
            log(f"skipping export version {path.name}: it cannot be loaded ({type(err).__name__}: {first_line(err)})")
    raise UserError(f"no export version could be loaded (tried {', '.join(p.name for p in versions) or 'none'})")
