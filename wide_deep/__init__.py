"""Wide & Deep delinquency-risk models on Keras 3, in six rooms:

- `core`      the model, the trainer (checkpoints, resume, early stopping), calibration,
              the cluster identity of a multi-worker run;
- `data`      reading files (`sources`), datasets and splits, the built-in datasets,
              transaction aggregation, sharded and streamed training input, synthetic data;
- `run`       one run's config, the pipeline (prepare → train → evaluate → export) and the
              `model_dir` layout;
- `evidence`  credit-risk evidence: metrics, statistics, scorecard, reason codes,
              fairness, monitoring and the HTML report;
- `serving`   the SavedModel export, loading it back, batch scoring and the REST server;
- `research`  the paper's ablation and sensitivity studies and the baselines.
"""
