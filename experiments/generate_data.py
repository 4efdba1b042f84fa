"""Generate the synthetic SME dataset: `python -m experiments.generate_data --num_enterprises=129880`."""

from __future__ import annotations

from absl import flags

from experiments.cli import console_script, main_running


def define_flags() -> None:
    flags.DEFINE_integer("num_enterprises", 129_880, "Number of enterprises (applications)")
    flags.DEFINE_integer("seed", 2024, "Generator seed: the same seed gives identical files")
    flags.DEFINE_string("output_dir", "data/sme", "Where applications.parquet, truth.parquet and transactions/ go")
    flags.DEFINE_float("positive_rate", 0.6, "Share of label 1 (the paper's positive:negative ratio is about 6:4)")
    flags.DEFINE_boolean(
        "label_rejections",
        True,
        "Count applications rejected for negative credit history as label 1 (the paper's rule)",
    )
    flags.DEFINE_integer("window_days", 180, "Transaction observation window before each application date")
    flags.DEFINE_float("mean_transactions", 100.0, "Mean transactions per enterprise")


def generate_data() -> None:
    from experiments.cli import from_flags
    from wide_deep.data.synthetic import GeneratorConfig, generate

    generate(from_flags(GeneratorConfig, flags.FLAGS), flags.FLAGS.output_dir)


main = main_running(generate_data)


run = console_script(define_flags, main)


if __name__ == "__main__":
    run()
