"""The record of a run, which training writes and evidence, serving and monitoring read: its configuration
(`config`), its folder (`model_dir`), its export versions on disk (`export_layout`), provenance and resources."""
