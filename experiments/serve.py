"""TensorFlow-Serving-compatible REST server: `make serve [MODEL_DIR=runs/default]`.

curl -d '{"instances": [{...raw features...}]}' http://127.0.0.1:8501/v1/models/wide_deep:predict
"""

from __future__ import annotations

from absl import flags

from experiments.cli import command

flags.DEFINE_string("model_dir", "runs/default", "Trained model_dir; its newest export/<version>/ is served")
flags.DEFINE_string("model_name", "wide_deep", "The <name> in /v1/models/<name>")
flags.DEFINE_string("host", "127.0.0.1", "Interface to bind (127.0.0.1: this machine only)")
flags.DEFINE_integer("port", 8501, "Port (8501 is TensorFlow Serving's REST port)", lower_bound=0, upper_bound=65535)
flags.DEFINE_float("poll_seconds", 2.0, "How often to look for a newer export version", lower_bound=0.05)
flags.DEFINE_integer("max_body_bytes", 8 << 20, "Largest accepted request body; larger gets 413", lower_bound=1024)
flags.DEFINE_integer("max_connections", 256, "Open connections at most; beyond, a new one is closed", lower_bound=1)
flags.DEFINE_integer("max_inflight", 2, "Requests parsed, and batches scored, at once", lower_bound=1)
flags.DEFINE_integer(
    "max_queued_bytes", 32 << 20, "Request bodies held at once (bytes); a request beyond gets 503", lower_bound=1024
)
flags.DEFINE_integer(
    "max_batch_rows", 256, "Concurrent requests are scored in one model call up to this many rows", lower_bound=1
)
flags.DEFINE_float("header_timeout", 10.0, "Seconds a client has to send a request's headers", lower_bound=0.1)
flags.DEFINE_float(
    "body_timeout", 30.0, "Seconds a client has to send a request's body (408 otherwise)", lower_bound=0.1
)
flags.DEFINE_string(
    "reason_codes", None, "CSV of code,feature,text replacing rows of the export's reason-code table (serving_explain)"
)
flags.DEFINE_boolean("access_log", True, "A line per request on stdout: client, method, path, status, latency")
FLAGS = flags.FLAGS


def serve() -> None:
    from experiments.cli import from_flags
    from wide_deep.serving.limits import ServerLimits
    from wide_deep.serving.server import serve as run_server

    run_server(
        FLAGS.model_dir,
        FLAGS.model_name,
        FLAGS.host,
        FLAGS.port,
        FLAGS.poll_seconds,
        from_flags(ServerLimits, FLAGS),
        FLAGS.access_log,
        FLAGS.reason_codes,
    )


main, run = command(serve)


if __name__ == "__main__":
    run()
