"""The model, its trainer and what training needs: callbacks, calibration, encoded tensors, the cluster."""
