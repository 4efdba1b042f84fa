"""Wide & Deep delinquency-risk models on Keras 3, in sub-packages by concept, each importing only those below it
(`tests/test_architecture.py` checks the order):

- `research`  the paper's ablation and sensitivity studies and the baselines;
- `run`       running one model: the data prepared once, then the named stages of training (fit the extras,
              warm start, train, blend or merge, calibrate, evaluate, collect the evidence, export);
- `serving`   the SavedModel export, loading it back, batch scoring, the REST server, monitoring new batches;
- `evidence`  credit-risk evidence: metrics, statistics, scorecard, reason codes, fairness, the HTML report;
- `record`    the record of a run that training writes and evidence and serving read: its config, its
              `model_dir`, its export versions on disk, provenance;
- `core`      the model, the trainer (epochs, checkpoints, resume, early stopping), the warm start, the GBDT
              wide branch, ensembles, calibration, the cluster identity of a multi-worker run;
- `data`      reading files (`sources`), datasets and splits, the built-in datasets, transaction
              aggregation, sharded and streamed training input, synthetic data, a starter spec;
- `ranking`   the one AUC.

`api` (the Python API) sits on top; `feature_columns` (the column kinds and the preprocessing) beneath all.
"""
