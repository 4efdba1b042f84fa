"""Running one model: prepare the data, then the named stages of training (fit the extras, warm start, train,
blend, calibrate, evaluate, collect the evidence, export)."""
