"""Data in: files, datasets and splits, built-in datasets, transaction aggregation, sharded input, synthetic SME
data, and a starter spec inferred from a sample."""
