"""Reason codes for adverse-action notices: each model feature has a code and a text.

The export writes a default table (`assets.extra/reason_codes.csv`: `R01`, `R02`, ... in the
order of the `serving_explain` contributions, with a text made from the feature's name); a
user's CSV with the columns `code,feature,text` replaces any of its rows (`make predict` and
`make serve` take `--reason_codes=path`). A reason is a feature whose contribution raised the
applicant's risk (positive contribution to the logit), largest first.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from feature_columns.errors import UserError, first_line
from feature_columns.names import CROSS_NAME

COLUMNS = ("code", "feature", "text")
MAX_CODE, MAX_TEXT = 20, 500  # an adverse-action notice quotes them: a code and a sentence


@dataclasses.dataclass(frozen=True)
class ReasonCode:
    code: str
    feature: str
    text: str


def default_text(feature: str) -> str:
    """`txn_days_since_last` → 'Txn days since last raised the estimated risk'; crosses name both parts."""
    parts = [p.replace("_", " ") for p in feature.split(CROSS_NAME)]
    subject = " together with ".join(parts) if len(parts) > 1 else parts[0]
    return f"{subject[:1].upper()}{subject[1:]} raised the estimated risk"


class ReasonCodes:
    """The table from feature to reason code and text."""

    def __init__(self, entries: list[ReasonCode]):
        self.by_feature = {e.feature: e for e in entries}

    @classmethod
    def default(cls, features: list[str]) -> ReasonCodes:
        width = max(2, len(str(len(features))))
        return cls([ReasonCode(f"R{i + 1:0{width}d}", f, default_text(f)) for i, f in enumerate(features)])

    @classmethod
    def read(cls, path: str | Path, features: list[str], base: ReasonCodes | None = None) -> ReasonCodes:
        """A user's table over `base` (default: `default(features)`); every row is checked against `features`."""
        base = base or cls.default(features)
        path = Path(path)
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
                header = rows[0].keys() if rows else []
        except (OSError, UnicodeDecodeError) as error:
            raise UserError(f"reason codes file {path} cannot be read: {error}") from None
        except csv.Error as error:  # e.g. a field longer than the csv module's limit (128 KiB)
            raise UserError(f"reason codes file {path} is not a CSV table: {first_line(error)}") from None
        if set(COLUMNS) - set(header):
            raise UserError(f"reason codes file {path}: expected the columns {list(COLUMNS)}, got {list(header)}")
        entries, seen = dict(base.by_feature), set()
        for line, row in enumerate(rows, start=2):
            feature, code, text = (row[c].strip() if row[c] else "" for c in ("feature", "code", "text"))
            if feature not in entries:
                raise UserError(f"reason codes file {path} line {line}: '{feature}' is not a feature of the model")
            if not code or not text or feature in seen:
                problem = "repeats that feature" if feature in seen else "needs a code and a text"
                raise UserError(f"reason codes file {path} line {line} ('{feature}') {problem}")
            if len(code) > MAX_CODE or len(text) > MAX_TEXT:
                raise UserError(
                    f"reason codes file {path} line {line} ('{feature}'): a code has at most {MAX_CODE} characters "
                    f"and a text at most {MAX_TEXT} (got {len(code):,} and {len(text):,})"
                )
            seen.add(feature)
            entries[feature] = ReasonCode(code, feature, text)
        return cls(list(entries.values()))

    def write(self, path: str | Path) -> None:
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows((e.code, e.feature, e.text) for e in self.by_feature.values())

    def code_of(self, feature: str) -> str:
        entry = self.by_feature.get(feature)
        return entry.code if entry is not None else ""

    def reasons(self, features: list[str], contributions: list[float]) -> list[dict]:
        """The reasons of one applicant: the features that raised the risk, as code, feature, text, contribution."""
        out = []
        for feature, contribution in zip(features, contributions):
            if contribution > 0:
                entry = self.by_feature.get(feature) or ReasonCode("", feature, default_text(feature))
                out.append({**dataclasses.asdict(entry), "contribution": float(contribution)})
        return out
