"""What a scored population is compared with the training baseline on, as counts that add up.

`PopulationCounts.of` reduces a batch (its scores and prepared features) to counts: rows per score
bin and per feature bin (the baseline's edges), rows holding values training never saw with the
smallest few of them, and rows approved at the cut-off. Counts of two batches merge exactly, so the
same figures come from one pass in this process or from one pass per Spark partition merged on the
driver (`make monitor ENGINE=spark`). PSI, CSI, unseen values and the approval rate are computed
from the counts alone, by the rules of `wide_deep.evidence.outcomes`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from wide_deep.evidence import metrics, outcomes


def _counts(keys: np.ndarray) -> dict[str, int]:
    labels, counts = np.unique(keys, return_counts=True)
    return dict(zip(labels.tolist(), counts.tolist()))


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = max(sum(counts.values()), 1)
    return {key: count / total for key, count in counts.items()}


@dataclasses.dataclass
class PopulationCounts:
    rows: int
    score: dict[str, int]
    features: dict[str, dict[str, int]]
    unseen: dict[str, int]
    examples: dict[str, list]
    approved: int

    @classmethod
    def of(cls, baseline: dict, scores, arrays: dict, threshold: float | None = None) -> PopulationCounts:
        """The counts of one batch: `baseline` is the stability baseline (edges, shares, seen values)."""
        scores = np.asarray(scores, dtype="float64")
        features, unseen, examples = {}, {}, {}
        for column, entry in baseline["features"].items():
            if column not in arrays:
                continue
            features[column] = _counts(metrics.bin_keys(arrays[column], entry["edges"]))
            found = outcomes.unseen_found(entry, arrays[column])
            if found is not None and found.size:
                unseen[column] = int(found.size)
                examples[column] = [
                    v.item() if hasattr(v, "item") else v for v in np.unique(found)[: outcomes.EXAMPLES]
                ]
        return cls(
            rows=len(scores),
            score=_counts(metrics.bin_keys(scores, baseline["score"]["edges"])),
            features=features,
            unseen=unseen,
            examples=examples,
            approved=int((scores < threshold).sum()) if threshold is not None else 0,
        )

    def merge(self, other: PopulationCounts) -> PopulationCounts:
        """The counts of both batches together (exactly those of `of` over their rows at once)."""

        def added(a: dict, b: dict) -> dict:
            return dict(Counter(a) + Counter(b))

        examples = {
            c: sorted(set(self.examples.get(c, [])) | set(other.examples.get(c, [])))[: outcomes.EXAMPLES]
            for c in set(self.examples) | set(other.examples)
        }
        return PopulationCounts(
            rows=self.rows + other.rows,
            score=added(self.score, other.score),
            features={
                c: added(self.features.get(c, {}), other.features.get(c, {})) for c in {*self.features, *other.features}
            },
            unseen=added(self.unseen, other.unseen),
            examples=examples,
            approved=self.approved + other.approved,
        )

    def stability(self, baseline: dict) -> dict:
        """Score PSI and per-feature CSI against the baseline's shares, with their flags."""
        score_psi = metrics.psi_from_distributions(baseline["score"]["shares"], _shares(self.score))
        csi = {
            c: metrics.psi_from_distributions(b["shares"], _shares(self.features[c]))
            for c, b in baseline["features"].items()
            if c in self.features
        }
        return {
            "psi": score_psi,
            "psi_flag": metrics.stability_flag(score_psi),
            "csi": {c: {"csi": v, "flag": metrics.stability_flag(v)} for c, v in csi.items()},
        }

    def unseen_values(self, baseline: dict) -> dict:
        """Per column with any (in the baseline's order): rows holding a value training never saw, their share, the
        flag, a few examples."""
        return {
            column: outcomes.unseen_entry(self.unseen[column], self.rows, self.examples[column])
            for column in baseline["features"]
            if column in self.unseen
        }

    def approval(self, test_rate: float | None) -> dict:
        return outcomes.approval_shift_of_rate(self.approved / max(self.rows, 1), test_rate)
