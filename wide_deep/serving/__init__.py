"""The exported SavedModel: writing it, loading it back, batch scoring, the REST server, and monitoring new batches
against the training baseline."""
