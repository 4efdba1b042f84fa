"""wide-deep-credit: Keras 3 Wide & Deep delinquency-risk models from declarative feature specs.

The package metadata lives in pyproject.toml; here are the packages, among them the shipped specs
and public datasets of data/ as `wide_deep_credit_data` (the generated data beside them is not packaged).
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["feature_columns*", "wide_deep*", "experiments*"]), "wide_deep_credit_data"],
    package_dir={"wide_deep_credit_data": "data"},
    package_data={
        "wide_deep_credit_data": ["README.md", "specs/*.yaml", "german/*.csv", "taiwan/*.csv"],
        "wide_deep.data": ["spark_log4j2.properties"],
    },
    include_package_data=False,
)
