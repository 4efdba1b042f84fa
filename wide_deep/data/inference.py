"""A starter spec from a sample of a data file: `make spec INPUT=loans.csv [LABEL=status]`.

Every column gets a type from what its values look like, and every decision is written into the
YAML as a comment so the user can check it: the label and the value taken to mean default, an id
column, numeric and categorical columns, small integer counts as bucketized columns, high
cardinality as hash buckets, and the columns left out (constant, nearly empty, dates, and
possible post-outcome leaks, which stay in the file commented out).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from feature_columns.errors import DataError
from feature_columns.spec import FeatureSpec, load_spec_yaml
from feature_columns.values import canonical_categories
from wide_deep.ranking import auc

LABEL_NAMES = re.compile(r"^(target|label|y|default|defaulted|is_default|bad|bad_flag|class|outcome|delinquent)$", re.I)
DEFAULT_VALUES = {"1", "true", "yes", "y", "default", "defaulted", "bad", "charged off", "chargeoff", "delinquent"}
# names of fields recorded after the loan's outcome is known (lending-club and SBA data hold many); "status" only
# as a loan's or a payment's (loan_status), not a characteristic's (status_of_checking_account, family_status)
LEAK_NAMES = re.compile(
    r"^status$|(loan|account|payment|pay|repayment)_?status$|recover|charge_?off|chgoff|paid|settle|collection|"
    r"pymnt|out_prncp|total_rec",
    re.I,
)
# attributes credit decisions must not use (ECOA/Reg B, the EU's anti-discrimination law): fairness report only
PROTECTED_NAMES = re.compile(
    r"sex|gender|(^|_)age($|_)|age_in|birth|(^|_)dob($|_)|race|ethnic|religio|marital|marriage|family_status|"
    r"civil_status|national|foreign",
    re.I,
)
# ... except the age of a thing, not of the applicant
NOT_PROTECTED_NAMES = re.compile(r"(car|vehicle|house|home|property|account|loan|credit|file|business)_?age", re.I)
# an integer column with few values is a count (bucketized, ordered) when named like one, else codes (categorical)
COUNT_NAMES = re.compile(
    r"num|count|cnt|number|qty|quantity|(^|_)n_|_no_of|times|days|months|years|term|tenure|dependents|children|"
    r"inquir|accounts|loans|credits|lines|(^|_)open|delinq|late|installment|residence|people|persons|members",
    re.I,
)
LEAK_AUC = 0.95  # a single column that separates the label this well is almost surely recorded after the outcome
NAMED_LIKE_ID = re.compile(r"(^|_|\b)id($|_)|^id|_no$|nr|number|key", re.I)
CHECK_AUC = 0.80  # alone this good is rare for an application-time characteristic: kept, with a note to check it
NEARLY_EMPTY = 0.95  # share of missing values above which a column is left out
MAX_VOCABULARY = 1000  # more distinct values than this: hash buckets
MAX_COUNT_VALUES = 20  # integer columns with at most this many values: bucketized, one bucket per value
SAMPLE_ROWS = 100_000


@dataclasses.dataclass
class InferredSpec:
    """The spec, its YAML with a comment on each decision, and the warnings the user should read."""

    spec: FeatureSpec
    text: str
    warnings: list[str]


def infer_spec(
    frame: pd.DataFrame, label: str | None = None, name: str = "custom", positive: list[str] | None = None
) -> InferredSpec:
    """A starter spec for `frame` (a sample of the data: its first SAMPLE_ROWS rows are used). `positive`: the
    label values that mean default, for a label of more than two values."""
    frame = _blank_as_missing(frame.head(SAMPLE_ROWS))
    if frame.empty or not len(frame.columns):
        raise DataError("the data has no rows to infer a spec from")
    label = _find_label(frame, label)
    values, counts = np.unique(canonical_categories(frame[label]), return_counts=True)
    present = [(v, int(c)) for v, c in zip(values, counts) if v != ""]
    positives, negatives = _label_values(label, present, positive)
    y = np.isin(canonical_categories(frame[label]), positives).astype(int)
    labelled = canonical_categories(frame[label]) != ""

    lines = [
        f"# Starter spec inferred from {len(frame):,} rows; check every line before training.",
        f"name: {name}",
        "label:",
        f"  column: {_quote(label)}",
        f"  positive: [{', '.join(map(_quote, positives))}]    # {_counts(present)}: the value(s) meaning default",
        f"  negative: [{', '.join(map(_quote, negatives))}]"
        + ("    # every other value: move out any that is not an outcome (a loan still running)" if positive else ""),
    ]
    if not labelled.all():
        lines.append(f"  missing: drop          # {int((~labelled).sum()):,} row(s) of the sample have no label")
    identifiers = _identifiers(frame, label)
    id_column = identifiers[0] if identifiers else None
    if id_column is not None:
        lines.append(f"id: {_quote(id_column)}    # unique in every row")
    lines.append("columns:")
    features = [c for c in frame.columns if c != label and c not in identifiers and str(c).strip()]
    unnamed = [k for k, c in enumerate(frame.columns) if not str(c).strip()]
    left_out = [f"  # column {k + 1} of the header has no name (a saved row index?): left out" for k in unnamed]
    left_out += [f"  # {_quote(c)}: unique in every row, an identifier, not a feature" for c in identifiers[1:]]
    column_lines, warnings = _column_lines(frame[features], y[labelled], labelled, left_out)
    lines += column_lines
    lines.append("crosses: []    # e.g. - {keys: [region, product]} (pairs that matter together)")
    text = "\n".join(lines) + "\n"
    spec = FeatureSpec.from_dict(load_spec_yaml(text), source="the inferred spec")
    return InferredSpec(spec, text, warnings)


def _column_lines(
    features: pd.DataFrame, y: np.ndarray, labelled: np.ndarray, also_left_out: list[str]
) -> tuple[list[str], list[str]]:
    """(the spec's lines for the feature columns, then those left out as comments, `also_left_out` last; the
    warnings to print)."""
    lines, warnings, left_out = [], [], []
    for column in features.columns:
        entry, note, leak = _column_entry(features[column], y, labelled)
        if leak is not None and leak.separates:
            warnings.append(f"column '{column}': {leak.reason}; left out (commented out in the spec)")
            if entry is None:
                left_out.append(f"  # {_quote(column)}: {note}; POSSIBLE LEAK: {leak.reason}")
            else:
                lines.append(f"  # - {entry}    # POSSIBLE LEAK: {leak.reason}")
        elif leak is not None:
            warnings.append(f"column '{column}': {leak.reason}; kept, check it")
            lines.append(f"  - {entry}    # CHECK: {leak.reason}" + (f"; {note}" if note else ""))
        elif entry is None:
            left_out.append(f"  # {_quote(column)}: {note}")
        else:
            lines.append(f"  - {entry}" + (f"    # {note}" if note else ""))
    left_out += also_left_out
    return lines + (["# left out:", *left_out] if left_out else []), warnings


def _find_label(frame: pd.DataFrame, label: str | None) -> str:
    if label is not None:
        if label not in frame.columns:
            raise DataError(f"label column '{label}' is not in the data (found: {list(frame.columns)[:30]})")
        return label
    guesses = [c for c in frame.columns if LABEL_NAMES.match(str(c).strip())]
    if len(guesses) != 1:
        found = f"candidates {guesses}" if guesses else "no column named like target, label, default or bad"
        raise DataError(f"cannot tell which column is the label ({found}); name it (make spec LABEL=column)")
    return guesses[0]


def _blank_as_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty or blank text cells as missing values (a CSV's empty cells in a text column)."""
    out = frame.copy()
    for column in out.columns:
        if _is_text(out[column]):
            text = out[column].astype(str).str.strip()
            out[column] = out[column].where(~((text == "") & out[column].notna()), np.nan)
    return out


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def _label_values(label: str, present: list[tuple[str, int]], positive: list[str] | None) -> tuple[list, list]:
    """(positive values, negative values): the given `positive` ones and every other value; for a label of two
    values, the one that reads as default, else the rarer one (defaults are the minority)."""
    shown = ", ".join(f"{v!r} ({c:,})" for v, c in present[:10])
    if positive:
        values = [v for v, _ in present]
        unknown = [v for v in positive if v not in values]
        if unknown:
            raise DataError(f"label column '{label}' has no value(s) {unknown} (POSITIVE); its values: {shown}")
        return list(positive), [v for v in values if v not in positive]
    if len(present) != 2:
        raise DataError(
            f"label column '{label}' has {len(present)} distinct value(s) ({shown}); a binary label needs 2: name "
            f'the value(s) that mean default, e.g. make spec LABEL={label} POSITIVE="{present[0][0]}"'
        )
    named = [v for v, _ in present if v.strip().lower() in DEFAULT_VALUES]
    value = named[0] if len(named) == 1 else min(present, key=lambda vc: (vc[1], vc[0]))[0]
    return [value], [next(v for v, _ in present if v != value)]


def _identifiers(frame: pd.DataFrame, label: str) -> list[str]:
    """Columns unique in every row whose values are text or whole numbers (loan numbers, customer ids): the one
    named most like an id first. Amounts with cents can be unique too, and stay features."""
    found = []
    for column in frame.columns:
        values = frame[column]
        if column == label or not str(column).strip() or values.isna().any() or not values.is_unique:
            continue
        if _is_text(values) and _looks_like_dates(values):
            continue  # dates are left out as dates
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            number = values.to_numpy(dtype="float64")
            whole = bool(np.all(np.floor(number) == number))
            if not whole or not (NAMED_LIKE_ID.search(str(column)) or bool(np.all(np.diff(number) > 0))):
                continue  # whole numbers unique in every row: an id when named like one or in increasing order
        found.append(column)
    return sorted(found, key=lambda c: NAMED_LIKE_ID.search(str(c)) is None)


def _column_entry(values: pd.Series, y: np.ndarray, labelled: np.ndarray) -> tuple[str | None, str, Leak | None]:
    """(the spec entry or None, a note, a leak warning or None) for one column."""
    name = _quote(values.name)
    missing = float(values.isna().mean())
    if missing > NEARLY_EMPTY:
        return None, f"{missing:.0%} missing", None
    present = values.dropna()
    distinct = present.nunique()
    if distinct <= 1:
        return None, "constant", None
    numeric = pd.to_numeric(present, errors="coerce") if not pd.api.types.is_numeric_dtype(present) else present
    is_numeric = bool(numeric.notna().all()) and not pd.api.types.is_bool_dtype(present)
    if not is_numeric and _looks_like_dates(present):
        empty = values.isna().to_numpy()[labelled]
        leak = _leak(str(values.name), np.full(len(y), np.nan), y, empty)
        return None, "dates (a derived months_between column can use them)", leak
    notes = [f"{missing:.0%} missing"] if missing >= 0.05 else []
    if is_numeric and distinct > 2:
        entry, more = _numeric_entry(name, str(values.name), numeric, distinct)
        notes += more
        score = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")[labelled]
    else:
        if distinct > MAX_VOCABULARY or distinct > 0.5 * len(present):
            buckets = 1 << int(np.ceil(np.log2(max(2 * distinct, 2))))
            entry = f"{{name: {name}, type: categorical, hash_buckets: {min(buckets, 1 << 20)}}}"
            notes.append(f"{distinct:,} distinct values: high cardinality, hashed")
        else:
            entry = f"{{name: {name}, type: categorical, min_frequency: 5}}"
            notes.append(f"{distinct} values")
        score = _target_rate(canonical_categories(values)[labelled], y)
    if PROTECTED_NAMES.search(str(values.name)) and not NOT_PROTECTED_NAMES.search(str(values.name)):
        entry = entry[:-1] + ", protected: true}"
        notes.append("a protected attribute by its name: fairness report only, not in the model")
    leak = _leak(str(values.name), score, y, values.isna().to_numpy()[labelled])
    return entry, "; ".join(notes), leak


def _numeric_entry(name: str, column: str, numeric: pd.Series, distinct: int) -> tuple[str, list[str]]:
    """A numeric column's entry: few whole values are a count (bucketized, one bucket each) when named like one,
    else codes (categorical: a code never seen in training is out of vocabulary, not absorbed by an edge bucket);
    other numbers numeric."""
    whole = bool(np.all(np.floor(numeric) == numeric))
    if whole and distinct <= MAX_COUNT_VALUES and COUNT_NAMES.search(column):
        boundaries = ", ".join(_number(v) for v in sorted(numeric.unique())[1:])
        return f"{{name: {name}, type: bucketized, boundaries: [{boundaries}]}}", [
            f"{distinct} integer values, a count by its name: one bucket each"
        ]
    if whole and distinct <= MAX_COUNT_VALUES:
        return f"{{name: {name}, type: categorical, min_frequency: 5}}", [
            f"{distinct} integer codes: categories (if it is a count, make it bucketized)"
        ]
    return f"{{name: {name}, type: numeric}}", []


def _looks_like_dates(present: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(present):
        return True
    sample = present.astype(str).head(1000)
    if not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:]|[A-Za-z]{3}").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


def _target_rate(codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's category replaced by the default rate of its category in the other half of the rows (so
    that rare categories do not look predictive by themselves); NaN where the other half lacks the category."""
    half = np.arange(len(codes)) % 2
    score = np.full(len(codes), np.nan)
    for part in (0, 1):
        rates = pd.Series(y[half != part]).groupby(codes[half != part]).mean()
        score[half == part] = pd.Series(codes[half == part]).map(rates).to_numpy(dtype="float64")
    return score


@dataclasses.dataclass
class Leak:
    """Why a column may hold information recorded after the outcome; `separates`: the data shows it."""

    reason: str
    separates: bool


def _leak(name: str, score: np.ndarray, y: np.ndarray, missing: np.ndarray) -> Leak | None:
    """What the data (and the name) say of a column recorded after the outcome: alone, or by whether it is empty,
    it separates the label (left out), or it ranks the label better than application data usually does, or its
    name is that of such a field (kept, to check)."""
    if 0 < missing.sum() < len(missing) and 0 < y.sum() < len(y):
        area = auc(y, missing.astype("float64"))
        if max(area, 1 - area) >= LEAK_AUC:
            return Leak(
                f"whether it is empty alone separates the label (AUC {max(area, 1 - area):.3f}), as for a date or "
                f"amount recorded only when a loan defaults",
                True,
            )
    present = ~np.isnan(score)
    area = float("nan")
    if present.sum() >= 20 and 0 < y[present].sum() < present.sum():
        area = auc(y[present], score[present])
        area = max(area, 1 - area)
        if area >= LEAK_AUC:
            return Leak(
                f"alone it separates the label with AUC {area:.3f}, as fields recorded after the outcome do", True
            )
    if area >= CHECK_AUC:
        return Leak(
            f"alone it reaches AUC {area:.3f}, more than application data usually does (is it known at "
            f"application, or recorded later?)",
            False,
        )
    if LEAK_NAMES.search(name):
        return Leak(
            "a name like those of fields recorded after the loan's outcome (is it known at application?)", False
        )
    return None


def _counts(present: list[tuple[str, int]]) -> str:
    return ", ".join(f"{v!r}: {c:,} rows" for v, c in present)


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _quote(value) -> str:
    """A YAML scalar that reads back as the same string (quoted unless plainly safe)."""
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) and text.lower() not in ("true", "false", "null", "yes", "no"):
        return text
    return "'" + text.replace("'", "''") + "'"
