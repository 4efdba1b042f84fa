"""How columns are named where the data's own names cannot go: inside TensorFlow, and in joined cross names."""

from __future__ import annotations

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
