"""A starter spec for your own data: `make spec INPUT=loans.csv [LABEL=status] [POSITIVE="Charged Off"] [OUTPUT=...]`.

Reads the first rows of the file, writes a YAML spec with a comment on every decision (see
`wide_deep.data.inference`) and prints the warnings to check; an existing file is never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from experiments.cli import command

flags.DEFINE_string("input", None, "CSV or Parquet file of loans with their outcome", required=True)
flags.DEFINE_string("label", None, "The outcome column (default: a column named like target, label, default, bad)")
flags.DEFINE_list(
    "positive",
    None,
    "The label values that mean default, comma-separated, for a label of more than two values (every other value "
    "is then a non-default)",
)
flags.DEFINE_string("output", None, "Where to write the spec (default: beside the input, <name>.spec.yaml)")
flags.DEFINE_string("name", None, "The spec's name: it names runs and results (default: the input file's name)")
FLAGS = flags.FLAGS


def spec() -> None:
    import pyarrow as pa

    from feature_columns.errors import UserError
    from wide_deep.data.inference import SAMPLE_ROWS, infer_spec
    from wide_deep.data.sources import check_output, check_readable, record_batches, write_atomically
    from wide_deep.record.model_dir import refuse_inside_runs

    source = check_readable(FLAGS.input, "input file")
    name = FLAGS.name or "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in source.stem)
    output = Path(FLAGS.output or source.with_name(f"{source.stem}.spec.yaml"))
    refuse_inside_runs(output, "spec file")
    check_output(output, "spec file", [source], (".yaml", ".yml"))
    if output.exists():
        raise UserError(f"spec file {output} exists; it is never overwritten (name another with OUTPUT=...)")
    first = next(record_batches(source, SAMPLE_ROWS, "input file"), None)
    if first is None or first.num_rows == 0:
        raise UserError(f"input file {source} has no data rows (a header only?): there is nothing to infer a spec from")
    sample = pa.Table.from_batches([first]).to_pandas()
    inferred = infer_spec(sample, FLAGS.label, name, FLAGS.positive)
    write_atomically(output, inferred.text)
    for warning in inferred.warnings:
        print(f"warning: {warning}")
    print(
        f"wrote {output}: {len(inferred.spec.columns)} columns from {len(sample):,} rows; check it, then "
        f"make train DATASET={source} MODEL_DIR=runs/{name} FLAGS=--spec={output}"
    )


main, run = command(spec)


if __name__ == "__main__":
    run()
