"""The shipped datasets: where their data, spec and (for synthetic data) true probabilities live."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from feature_columns.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    data: Path
    spec: Path
    truth: Path | None = None
    synthetic: bool = False


BUILTIN = {
    "sme": DatasetInfo("sme", PROJECT_ROOT / "data/sme/applications.parquet", PROJECT_ROOT / "data/specs/sme.yaml",
                       truth=PROJECT_ROOT / "data/sme/truth.parquet", synthetic=True),
    "taiwan": DatasetInfo("taiwan", PROJECT_ROOT / "data/taiwan/UCI_Credit_Card.csv", PROJECT_ROOT / "data/specs/taiwan.yaml"),
    "german": DatasetInfo("german", PROJECT_ROOT / "data/german/germancredit.csv", PROJECT_ROOT / "data/specs/german.yaml"),
}


def resolve(dataset: str, train_data: str | None, spec: str | None) -> DatasetInfo:
    """A built-in dataset (optionally with a different file or spec), or a user's file plus its spec."""
    if dataset in BUILTIN:
        info = BUILTIN[dataset]
        return dataclasses.replace(info, data=Path(train_data) if train_data else info.data,
                                   spec=Path(spec) if spec else info.spec,
                                   truth=(Path(train_data).parent / "truth.parquet") if train_data and info.synthetic else info.truth)
    path = Path(train_data or dataset)
    if not spec:
        raise UserError(f"--dataset={dataset!r} is not one of {sorted(BUILTIN)}, so it is read as a data file; "
                        f"give its feature spec with --spec=path/to/spec.yaml (see README, 'Bring your own data')")
    return DatasetInfo(path.stem, path, Path(spec))
