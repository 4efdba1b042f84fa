"""How columns are named where the data's own names cannot go: inside TensorFlow, and in joined cross names."""

from __future__ import annotations

import contextlib
import warnings

CROSS_NAME = "_x_"  # joins a cross's keys into its default name (city_x_industry_primary)


def argument_name(column: str) -> str:
    """The name a raw column takes inside TensorFlow (Keras inputs, SavedModel signature arguments), which
    allow only letters, digits and underscores there: other characters become `_`, and a name that would not
    start with a letter or digit gets an `x` in front. Data files, `make predict` and REST use the column's
    own name."""
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch == "_" else "_" for ch in column)
    return safe if safe[:1].isalnum() else f"x{safe}"


def safe_name(name: str) -> str:
    """A column's name inside Keras layer and tensor names (`encode_deep_<name>`, `deep_ids_<name>`)."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


@contextlib.contextmanager
def raw_names_as_keys():
    """Build (or load) a Keras model whose dict inputs are keyed by the raw column names while their tensors carry
    `argument_name`s, without Keras' warning that the two differ: the difference is by design (TensorFlow's names
    cannot hold a space, a dot or a slash), and the warning asked the user to rename tensors they never made."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="When providing `inputs` as a dict, all keys in the dict must match", category=UserWarning
        )
        yield
