"""The exported SavedModel: writing it, loading it back, batch scoring and the REST server."""
