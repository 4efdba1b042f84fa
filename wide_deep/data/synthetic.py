"""Synthetic SME lending data with raw transaction logs and a known default probability.

The paper's data is private; this generator is a documented stand-in (data/README.md has
the full description). In short:

- Each enterprise has a latent business health `h` ~ N(0, 1) (shifted a little by industry
  and city tier) and a size factor. Health drives the *parameters* of its transaction
  process — activity trend, amount volatility, a possible dormant spell, the share of
  inflows — and its historical credit behaviour.
- The raw log is one row per transaction (id, timestamp, amount, direction, channel) over
  the `window_days` before the application date, ~100 transactions per enterprise.
- The default log-odds have main effects (industry, city tier and city, bank-account
  validation, credit history), a city-tier × industry interaction, a gender × verification
  interaction and non-linear transaction effects (only a *declining* trend hurts;
  volatility; dormant-spell length; inflow share). They depend on health only through
  these observable channels, so the saved `true_prob` is the best any model could use,
  and models see only noisy estimates of the transaction parameters through the log.
- The paper's label rule: label 1 = overdue > 30 days, or rejected for a negative credit
  history (the underwriter's rejection is itself a noisy function of credit history).
  The intercept is solved so the positive rate matches `positive_rate` (paper: ~0.6).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_columns.errors import UserError

PRIMARY_INDUSTRIES = (
    "retail",
    "wholesale",
    "catering",
    "manufacturing",
    "construction",
    "logistics",
    "agriculture",
    "software",
    "education",
    "healthcare",
    "tourism",
    "real_estate_services",
    "textiles",
    "electronics",
    "printing",
    "repair_services",
    "beauty_services",
    "media",
    "consulting",
    "recycling",
)
CHANNELS = ("bank_transfer", "qr_code", "pos_terminal", "mobile_app")
CITY_TIER_SIZES = (4, 30, 96, 170)  # 300 cities: tier 1 … tier 4
CITY_TIER_WEIGHT = (0.22, 0.33, 0.28, 0.17)  # share of enterprises per tier
APPLICATIONS_FILE = "applications.parquet"
TRUTH_FILE = "truth.parquet"  # id → true_prob: the oracle behind every label
METADATA_FILE = "metadata.json"  # the generator settings and the label rule
TRANSACTIONS_DIR = "transactions"
SIGNAL_SCALE = 1.0  # multiplies the whole default log-odds (sets the oracle AUC, ~0.72; see data/README.md)


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    num_enterprises: int = 129_880
    seed: int = 2024
    window_days: int = 180
    mean_transactions: float = 100.0
    positive_rate: float = 0.6
    label_rejections: bool = True
    enterprises_per_file: int = 10_000

    def validate(self) -> None:
        if self.num_enterprises < 100:
            raise UserError(f"--num_enterprises must be at least 100, got {self.num_enterprises}")
        if not 0.02 <= self.positive_rate <= 0.98:
            raise UserError(f"--positive_rate must be in [0.02, 0.98], got {self.positive_rate}")
        if self.window_days < 30:
            raise UserError(f"--window_days must be at least 30, got {self.window_days}")


@dataclasses.dataclass(frozen=True)
class World:
    """Fixed effects of the generative process (drawn once from the seed)."""

    secondary_of_primary: list[list[str]]
    primary_weights: np.ndarray
    secondary_weights: list[np.ndarray]
    industry_effect: np.ndarray
    industry_health_shift: np.ndarray
    industry_amount_shift: np.ndarray
    industry_channel_probs: np.ndarray
    city_names: np.ndarray
    city_tier: np.ndarray
    city_weights: np.ndarray
    city_effect: np.ndarray
    tier_effect: np.ndarray
    tier_health_shift: np.ndarray
    tier_industry_interaction: np.ndarray


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_world(rng: np.random.Generator) -> World:
    n_primary = len(PRIMARY_INDUSTRIES)
    n_secondary = rng.integers(3, 9, size=n_primary)  # ~110 secondary industries in all
    secondary = [[f"{p}.{k:02d}" for k in range(n)] for p, n in zip(PRIMARY_INDUSTRIES, n_secondary)]
    primary_weights = 1.0 / np.arange(1, n_primary + 1) ** 0.8
    tiers = np.concatenate([np.full(n, t + 1) for t, n in enumerate(CITY_TIER_SIZES)])
    city_weights = np.concatenate(
        [np.full(n, w / n) * rng.lognormal(0, 0.5, n) for n, w in zip(CITY_TIER_SIZES, CITY_TIER_WEIGHT)]
    )
    return World(
        secondary_of_primary=secondary,
        primary_weights=primary_weights / primary_weights.sum(),
        secondary_weights=[rng.dirichlet(np.full(len(s), 2.0)) for s in secondary],
        industry_effect=rng.normal(0, 0.3, n_primary),
        industry_health_shift=rng.normal(0, 0.2, n_primary),
        industry_amount_shift=rng.normal(0, 0.5, n_primary),
        industry_channel_probs=rng.dirichlet(np.full(len(CHANNELS), 3.0), size=n_primary),
        city_names=np.array([f"city_{i:03d}" for i in range(len(tiers))]),
        city_tier=tiers,
        city_weights=city_weights / city_weights.sum(),
        city_effect=rng.normal(0, 0.1, len(tiers)),
        tier_effect=np.array([-0.3, -0.1, 0.1, 0.3]),
        tier_health_shift=np.array([0.15, 0.05, -0.05, -0.15]),
        tier_industry_interaction=rng.normal(0, 0.45, (4, n_primary)),
    )


# gender × verification: a real interaction (no additive decomposition reproduces it)
GENDER_VERIFICATION_EFFECT = {
    ("M", "unverified"): 0.45,
    ("F", "unverified"): -0.05,
    ("M", "pending"): 0.2,
    ("F", "pending"): 0.05,
    ("M", "verified"): 0.0,
    ("F", "verified"): 0.0,
}
MALE_SHARE = 0.68  # gender is drawn independently of everything else, with this share of "M"


def _gender_verification_effect(gender: np.ndarray, verification: np.ndarray) -> np.ndarray:
    return np.array([GENDER_VERIFICATION_EFFECT[(g, v)] for g, v in zip(gender, verification)])


def generate_enterprises(
    config: GeneratorConfig, world: World, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Applications, latent process parameters and the true probability, one row per enterprise."""
    n = config.num_enterprises
    e = _draw_enterprises(config, world, rng)
    score = _risk_score(world, e)
    p_reject = _sigmoid(-3.6 + 0.9 * e.prev_delinq + 0.03 * np.minimum(np.nan_to_num(e.avg_days_overdue), 90))
    rejected = rng.random(n) < p_reject
    intercept = _solve_intercept(
        score,
        p_reject if config.label_rejections else None,
        config.positive_rate,
        None if config.label_rejections else ~rejected,
    )
    p_default = _sigmoid(intercept + score)

    def label_probability(default: np.ndarray) -> np.ndarray:  # the label rule: a rejection counts as a default
        return p_reject + (1 - p_reject) * default if config.label_rejections else default

    true_prob = label_probability(p_default)
    # the best a model without the protected gender column can do: gender is independent of every other input, so
    # its effect is averaged over its two values (the same probability, known to the model's inputs)
    true_prob_without_protected = label_probability(_gender_blind_default(intercept + score, e))
    defaulted = rng.random(n) < p_default
    label = np.where(rejected, 1, defaulted.astype(int)) if config.label_rejections else defaulted.astype(int)

    start = np.datetime64("2024-07-01T00:00:00")
    application_date = start + (rng.integers(0, 184 * 86400, n)).astype("timedelta64[s]")
    frame = pd.DataFrame(
        {
            "enterprise_id": np.arange(1, n + 1, dtype="int64"),
            "application_date": application_date,
            "gender": e.gender,
            "industry_primary": np.array(PRIMARY_INDUSTRIES)[e.primary],
            "industry_secondary": e.secondary.astype(str),
            "city": world.city_names[e.city],
            "city_tier": np.char.add("tier_", e.tier.astype(str)),
            "real_name_verification": e.verification,
            "bank_account_validation": e.bank_validated,
            "past_loan_count": e.past_loans.astype("int64"),
            "avg_days_overdue": e.avg_days_overdue,
            "prev_delinquency_count": e.prev_delinq.astype("int64"),
            "rejected": rejected,
            "label": label.astype("int64"),
        }
    )
    latent = pd.DataFrame(
        {
            "enterprise_id": frame["enterprise_id"],
            "true_prob": true_prob,
            "true_prob_without_protected": true_prob_without_protected,
            "health": e.health,
            "size": e.size,
            "trend": e.trend,
            "volatility": e.volatility,
            "gap_days": e.gap_days,
            "inflow_share": e.inflow_share,
            "expected_txns": e.expected_txns,
            "amount_log_mean": 6.5 + 0.5 * e.size + world.industry_amount_shift[e.primary],
            "primary_index": e.primary,
        }
    )
    return frame, latent


def _draw_enterprises(config: GeneratorConfig, world: World, rng: np.random.Generator) -> SimpleNamespace:
    """Each enterprise's profile, latent health and transaction-process parameters, and credit history, drawn in
    a fixed order (the same seed gives the same data)."""
    n = config.num_enterprises
    primary = rng.choice(len(PRIMARY_INDUSTRIES), size=n, p=world.primary_weights)
    secondary = np.empty(n, dtype=object)
    for p in range(len(PRIMARY_INDUSTRIES)):
        rows = np.flatnonzero(primary == p)
        secondary[rows] = np.array(world.secondary_of_primary[p])[
            rng.choice(len(world.secondary_of_primary[p]), size=rows.size, p=world.secondary_weights[p])
        ]
    city = rng.choice(len(world.city_names), size=n, p=world.city_weights)
    tier = world.city_tier[city]
    gender = np.where(rng.random(n) < MALE_SHARE, "M", "F")
    verification = rng.choice(["verified", "pending", "unverified"], size=n, p=[0.75, 0.10, 0.15])

    size = rng.normal(0, 1, n)
    health = rng.normal(0, 1, n) + world.industry_health_shift[primary] + world.tier_health_shift[tier - 1]
    bank_validated = np.where(rng.random(n) < _sigmoid(1.7 + 0.4 * health), "validated", "not_validated")
    trend = 0.9 * health + 0.7 * rng.normal(0, 1, n)  # log-ratio of activity, end vs start
    volatility = np.exp(np.log(0.9) - 0.25 * health + 0.15 * rng.normal(0, 1, n))  # sigma of log-amount
    dormant = rng.random(n) < _sigmoid(-1.6 - 0.9 * health)
    gap_days = np.where(dormant, rng.uniform(21, 75, n), 0.0)
    inflow_share = _sigmoid(0.15 + 0.35 * health + 0.3 * rng.normal(0, 1, n))
    expected_txns = config.mean_transactions * np.exp(0.45 * size - 0.45**2 / 2)

    past_loans = rng.poisson(np.exp(0.8 + 0.3 * size))
    prev_delinq = rng.binomial(past_loans, _sigmoid(-2.2 - 0.9 * health))
    overdue = rng.gamma(2.0, 1.5 * np.exp(-0.8 * health)) + 18.0 * (prev_delinq > 0) * rng.random(n)
    avg_days_overdue = np.where(past_loans > 0, np.round(overdue, 1), np.nan)  # no history → missing
    return SimpleNamespace(
        primary=primary,
        secondary=secondary,
        city=city,
        tier=tier,
        gender=gender,
        verification=verification,
        size=size,
        health=health,
        bank_validated=bank_validated,
        trend=trend,
        volatility=volatility,
        gap_days=gap_days,
        inflow_share=inflow_share,
        expected_txns=expected_txns,
        past_loans=past_loans,
        prev_delinq=prev_delinq,
        avg_days_overdue=avg_days_overdue,
    )


def _risk_score(world: World, e: SimpleNamespace) -> np.ndarray:
    """The centred, scaled log-odds of default each enterprise's profile implies (before the intercept)."""
    gv = _gender_verification_effect(e.gender, e.verification)
    score = (
        world.industry_effect[e.primary]
        + world.tier_effect[e.tier - 1]
        + world.city_effect[e.city]
        + world.tier_industry_interaction[e.tier - 1, e.primary]
        + gv
        + 0.35 * (e.bank_validated == "not_validated")
        + 0.30 * np.minimum(e.prev_delinq, 3)
        + 0.012 * np.minimum(np.nan_to_num(e.avg_days_overdue, nan=8.0), 60)
        - 0.04 * np.minimum(e.past_loans, 8)
        + 0.55 * np.maximum(-e.trend, 0.0)
        + 0.6 * (e.volatility - 0.9)
        + 0.012 * e.gap_days
        - 1.2 * (e.inflow_share - 0.5)
        - 0.15 * e.size
    )
    return SIGNAL_SCALE * (score - score.mean())


def _gender_blind_default(log_odds: np.ndarray, e: SimpleNamespace) -> np.ndarray:
    """P(default) with the gender × verification effect averaged over gender (its shares), the rest as it is."""
    own = SIGNAL_SCALE * _gender_verification_effect(e.gender, e.verification)
    return sum(
        share
        * _sigmoid(log_odds - own + SIGNAL_SCALE * _gender_verification_effect(np.full(len(own), g), e.verification))
        for g, share in (("M", MALE_SHARE), ("F", 1 - MALE_SHARE))
    )


def _solve_intercept(score, p_reject, rate, accepted_mask) -> float:
    """Bisection for the intercept that makes the mean label probability equal `rate`."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        p = _sigmoid(mid + score)
        mean = (p_reject + (1 - p_reject) * p).mean() if p_reject is not None else p[accepted_mask].mean()
        lo, hi = (mid, hi) if mean < rate else (lo, mid)
    return (lo + hi) / 2


def generate_transactions(
    apps: pd.DataFrame, latent: pd.DataFrame, world: World, config: GeneratorConfig, rng: np.random.Generator
) -> pa.Table:
    """The raw log for a block of enterprises: one row per transaction inside their observation windows."""
    counts = rng.poisson(latent["expected_txns"].to_numpy())
    idx = np.repeat(np.arange(len(apps)), counts)
    m = idx.size
    tau = latent["trend"].to_numpy()[idx]
    u = rng.random(m)
    small = np.abs(tau) < 1e-6
    t = np.where(small, u, np.log1p(u * np.expm1(np.where(small, 1.0, tau))) / np.where(small, 1.0, tau))
    gap = latent["gap_days"].to_numpy() / config.window_days
    gap_start = rng.random(len(apps)) * (1 - gap)
    t = t * (1 - gap[idx])
    t = t + gap[idx] * (t >= gap_start[idx])
    # strictly inside the window (as_of - window_days, as_of): the aggregation's definition
    seconds = np.clip(t * config.window_days * 86400, 1, config.window_days * 86400 - 1).astype("int64")
    window_start = apps["application_date"].to_numpy()[idx] - np.timedelta64(config.window_days * 86400, "s")
    timestamp = window_start + seconds.astype("timedelta64[s]")
    amount = np.round(
        np.exp(latent["amount_log_mean"].to_numpy()[idx] + latent["volatility"].to_numpy()[idx] * rng.normal(0, 1, m)),
        2,
    )
    direction = np.where(rng.random(m) < latent["inflow_share"].to_numpy()[idx], "in", "out")
    probs = world.industry_channel_probs[latent["primary_index"].to_numpy()[idx]]
    channel = (rng.random(m)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
    order = np.lexsort((timestamp, idx))
    return pa.table(
        {
            "enterprise_id": pa.array(apps["enterprise_id"].to_numpy()[idx][order]),
            "timestamp": pa.array(timestamp[order]),
            "amount": pa.array(amount[order]),
            "direction": pa.array(direction[order]).dictionary_encode(),
            "channel": pa.array(np.array(CHANNELS)[np.minimum(channel, len(CHANNELS) - 1)][order]).dictionary_encode(),
        }
    )


def generate(config: GeneratorConfig, output_dir: str | Path, log=print) -> dict:
    """Write applications.parquet, truth.parquet, transactions/part-*.parquet and metadata.json."""
    config.validate()
    out = Path(output_dir)
    tx_dir = out / TRANSACTIONS_DIR
    tx_dir.mkdir(parents=True, exist_ok=True)
    for stale in tx_dir.glob("part-*.parquet"):
        stale.unlink()
    world = make_world(np.random.default_rng([config.seed, 0]))
    apps, latent = generate_enterprises(config, world, np.random.default_rng([config.seed, 1]))
    n_rows = 0
    for block, begin in enumerate(range(0, len(apps), config.enterprises_per_file)):
        rows = slice(begin, begin + config.enterprises_per_file)
        table = generate_transactions(
            apps.iloc[rows].reset_index(drop=True),
            latent.iloc[rows].reset_index(drop=True),
            world,
            config,
            np.random.default_rng([config.seed, 2, block]),
        )
        pq.write_table(table, tx_dir / f"part-{block:05d}.parquet", row_group_size=256_000)
        n_rows += table.num_rows
    rejected_rows = apps["rejected"].to_numpy()
    if not config.label_rejections:  # accepts-only: rejected applications have no loan outcome
        apps[rejected_rows].drop(columns=["label"]).to_parquet(out / "rejected_applications.parquet", index=False)
        apps, latent = apps[~rejected_rows].reset_index(drop=True), latent[~rejected_rows].reset_index(drop=True)
    apps.to_parquet(out / APPLICATIONS_FILE, index=False)
    latent.drop(columns=["primary_index"]).to_parquet(out / TRUTH_FILE, index=False)
    meta = {
        "generator": dataclasses.asdict(config),
        "signal_scale": SIGNAL_SCALE,
        "num_enterprises": int(len(apps)),
        "num_transactions": int(n_rows),
        "num_rejected": int(rejected_rows.sum()),
        "positive_rate": float(apps["label"].mean()),
        "label_rule": "1 = overdue > 30 days"
        + (" or rejected for negative credit history" if config.label_rejections else " (accepted loans only)"),
    }
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=1))
    log(
        f"wrote {len(apps):,} applications and {n_rows:,} transactions to {out} "
        f"(positive rate {meta['positive_rate']:.3f}, {meta['num_rejected']:,} rejected)"
    )
    return meta
