import hashlib

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from wide_deep.data.synthetic import GeneratorConfig, generate


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.parquet")):
        h.update(path.name.encode())
        h.update(pd.read_parquet(path).to_csv(index=False).encode())
    return h.hexdigest()


def test_same_seed_gives_identical_files(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder, seed in ((a, 3), (b, 3), (c, 4)):
        generate(GeneratorConfig(num_enterprises=500, seed=seed), folder, log=lambda *_: None)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_generated_data_has_the_documented_shape(small_sme):
    apps = pd.read_parquet(small_sme / "applications.parquet")
    truth = pd.read_parquet(small_sme / "truth.parquet")
    tx = pd.read_parquet(small_sme / "transactions")
    assert len(apps) == 3000 and apps["enterprise_id"].is_unique
    assert 80 <= len(tx) / len(apps) <= 120  # ~100 transactions per enterprise
    assert abs(apps["label"].mean() - 0.6) < 0.04  # the paper's ~6:4 ratio
    assert (apps.loc[apps["rejected"], "label"] == 1).all()  # the paper's rejection rule
    # secondary industries are nested in primary ones
    assert (apps["industry_secondary"].str.split(".").str[0] == apps["industry_primary"]).all()
    assert apps["city"].nunique() > 150 and apps["industry_secondary"].nunique() > 60
    assert apps.loc[apps["past_loan_count"] == 0, "avg_days_overdue"].isna().all()
    oracle = roc_auc_score(apps["label"], truth["true_prob"])
    assert 0.68 < oracle < 0.78
    window = (
        apps.set_index("enterprise_id")["application_date"].reindex(tx["enterprise_id"]).to_numpy()
        - tx["timestamp"].to_numpy()
    )
    assert (window > np.timedelta64(0, "s")).all() and (window < np.timedelta64(180, "D")).all()


def test_the_permitted_oracle_averages_out_gender_only(small_sme):
    """`true_prob_without_protected` is the true probability with the gender × verification effect averaged over
    gender: equal where gender has no effect (verified), above it for unverified women and below for unverified
    men (whose effect is the larger)."""
    apps = pd.read_parquet(small_sme / "applications.parquet")
    truth = pd.read_parquet(small_sme / "truth.parquet").set_index("enterprise_id").loc[apps["enterprise_id"]]
    true, permitted = truth["true_prob"].to_numpy(), truth["true_prob_without_protected"].to_numpy()
    verified = (apps["real_name_verification"] == "verified").to_numpy()
    unverified = (apps["real_name_verification"] == "unverified").to_numpy()
    male = (apps["gender"] == "M").to_numpy()
    np.testing.assert_allclose(permitted[verified], true[verified], rtol=1e-12)
    assert (permitted[unverified & male] < true[unverified & male]).all()
    assert (permitted[unverified & ~male] > true[unverified & ~male]).all()
    assert 0 < permitted.min() and permitted.max() < 1
    assert abs(permitted.mean() - true.mean()) < 0.01


def test_accepts_only_labels_keep_rejections_apart(tmp_path):
    meta = generate(
        GeneratorConfig(num_enterprises=1000, seed=5, label_rejections=False, positive_rate=0.2),
        tmp_path,
        log=lambda *_: None,
    )
    apps = pd.read_parquet(tmp_path / "applications.parquet")
    rejected = pd.read_parquet(tmp_path / "rejected_applications.parquet")
    assert not apps["rejected"].any() and rejected["rejected"].all()
    assert len(apps) + len(rejected) == 1000 == meta["num_enterprises"] + meta["num_rejected"]
    assert abs(apps["label"].mean() - 0.2) < 0.05
