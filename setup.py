"""wide-deep-credit: Keras 3 Wide & Deep delinquency-risk models from declarative feature specs."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def _requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="wide-deep-credit",
    version="0.1.0",
    description="Wide & Deep credit-risk models on Keras 3 with declarative feature columns",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(
        include=["feature_columns", "feature_columns.*", "wide_deep", "wide_deep.*", "experiments", "experiments.*"]
    ),
    install_requires=_requirements(),
    extras_require={"dev": ["pytest==9.2.0", "pytest-xdist==3.8.0", "execnet==2.1.2", "ruff==0.17.6"]},
    entry_points={
        "console_scripts": [
            "wide-deep-train=experiments.train:run",
            "wide-deep-data=experiments.generate_data:run",
        ]
    },
)
