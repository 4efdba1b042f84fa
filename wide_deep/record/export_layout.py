"""An export version on disk: the one owner of the export layout (written by `wide_deep.serving.export`, read by
`wide_deep.serving.saved_model.LoadedExport` and the run's `ModelDir`).

    export/<version>/                 a SavedModel (TensorFlow Serving scans these integer folders)
      saved_model.pb, variables/
      assets.extra/spec.yaml          the ModelSpec the model was built from (its raw inputs)
      assets.extra/preprocessing.json the fitted preprocessing
      assets.extra/serving_packed_columns.json   column order of the `serving_packed` signature
      assets.extra/serving_explain.json          feature order and intercept of `serving_explain`
      assets.extra/model.json                    the trained weights' fingerprint, the threshold, the calibration
      assets.extra/reason_codes.csv              code and text of each explained feature
      assets.extra/tf_serving_warmup_requests    requests TensorFlow Serving (and our server) replays on loading
"""

from __future__ import annotations

from pathlib import Path

SIDECAR_DIR = "assets.extra"  # TensorFlow Serving's place for files that travel with a version


class VersionLayout:
    """The files of one export version (written by `wide_deep.serving.export`)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.sidecar = self.path / SIDECAR_DIR
        self.spec = self.sidecar / "spec.yaml"
        self.preprocessing = self.sidecar / "preprocessing.json"
        self.packed_columns = self.sidecar / "serving_packed_columns.json"
        self.explain = self.sidecar / "serving_explain.json"
        self.model = self.sidecar / "model.json"  # the model's fingerprint, threshold and calibration
        self.reason_codes = self.sidecar / "reason_codes.csv"  # code and text of each explained feature
        self.warmup = self.sidecar / "tf_serving_warmup_requests"  # the name TF Serving looks for

    @property
    def is_complete(self) -> bool:
        return self.path.name.isdigit() and (self.path / "saved_model.pb").exists()


def export_versions(export_root: str | Path) -> list[Path]:
    """Complete version directories under an export root, oldest first."""
    root = Path(export_root)
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if VersionLayout(p).is_complete), key=lambda p: int(p.name))


# the signatures of an export: raw features, tf.Example protos, two packed matrices, reason codes
PREDICT, EXAMPLES, PACKED, EXPLAIN = "serving_default", "serving_tf_example", "serving_packed", "serving_explain"
