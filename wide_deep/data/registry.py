"""The built-in datasets: where their data, spec and (for synthetic data) true probabilities live."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from feature_columns.errors import UserError
from wide_deep.data.synthetic import APPLICATIONS_FILE, METADATA_FILE, TRUTH_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUILTIN_NAMES = ("sme", "taiwan", "german")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    name: str
    data: Path
    spec: Path
    truth: Path | None = None
    synthetic: bool = False

    @property
    def metadata(self) -> Path:
        """The label rule and generator settings that sit beside synthetic data (absent for other data)."""
        return self.data.parent / METADATA_FILE


def is_checkout() -> bool:
    """Whether the code runs from a source checkout (its data/ folder beside the packages)."""
    return (PROJECT_ROOT / "data" / "specs" / "sme.yaml").is_file()


def shipped_data() -> Path:
    """The shipped specs and public datasets: data/ of a source checkout, else the installed package's copy."""
    if is_checkout():
        return PROJECT_ROOT / "data"
    import wide_deep_credit_data  # data/ as installed (a namespace package: no __init__.py)

    return Path(next(iter(wide_deep_credit_data.__path__)))


def generated_data() -> Path:
    """Where generated data (the synthetic SME data) goes: data/ of a source checkout, else data/ in the
    working folder (an installed package's folder is not the place for it)."""
    return PROJECT_ROOT / "data" if is_checkout() else Path.cwd() / "data"


def builtin(name: str) -> DatasetInfo:
    """A built-in dataset: its data file, spec and (synthetic data) true probabilities."""
    shipped = shipped_data()
    if name == "sme":
        generated = generated_data() / "sme"
        return DatasetInfo(
            "sme",
            generated / APPLICATIONS_FILE,
            shipped / "specs/sme.yaml",
            truth=generated / TRUTH_FILE,
            synthetic=True,
        )
    files = {"taiwan": "taiwan/UCI_Credit_Card.csv", "german": "german/germancredit.csv"}
    return DatasetInfo(name, shipped / files[name], shipped / f"specs/{name}.yaml")


def resolve(dataset: str, train_data: str | None, spec: str | None) -> DatasetInfo:
    """A built-in dataset (optionally with a different file or spec), or a user's file plus its spec."""
    if dataset in BUILTIN_NAMES:
        info = builtin(dataset)
        truth = (Path(train_data).parent / TRUTH_FILE) if train_data and info.synthetic else info.truth
        return dataclasses.replace(
            info,
            data=Path(train_data) if train_data else info.data,
            spec=Path(spec) if spec else info.spec,
            truth=truth,
        )
    path = Path(train_data or dataset)
    if not spec:
        raise UserError(
            f"--dataset={dataset!r} is not one of {sorted(BUILTIN_NAMES)}, so it is read as a data file; "
            f"give its feature spec with --spec=path/to/spec.yaml (see README, 'Bring your own data')"
        )
    return DatasetInfo(path.stem, path, Path(spec))


def ensure_generated(info: DatasetInfo, num_enterprises: int, seed: int, log=print) -> None:
    """Generate the default synthetic SME data when it is absent (so `make train` works on a fresh clone)."""
    from wide_deep.data.synthetic import GeneratorConfig, generate

    if info.synthetic and not info.data.exists():
        log(f"{info.data} not found: generating {num_enterprises:,} synthetic enterprises (seed {seed})")
        generate(GeneratorConfig(num_enterprises=num_enterprises, seed=seed), info.data.parent, log=log)
