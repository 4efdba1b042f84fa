"""One run: its config, the pipeline (prepare → train → evaluate → export) and the model_dir it writes."""
