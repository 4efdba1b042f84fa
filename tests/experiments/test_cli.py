"""What the entry points share, in process: flags → configs by name, one-line user errors with exit code 2."""

import pytest
from absl import flags

from experiments.cli import from_flags, main_running, run_reporting_user_errors
from feature_columns.errors import DataError
from wide_deep.core.config import TrainConfig


def test_a_config_is_read_from_the_flags_of_the_same_names():
    values = flags.FlagValues()
    flags.DEFINE_integer("epochs", 7, "", flag_values=values)
    flags.DEFINE_float("learning_rate", 0.5, "", flag_values=values)
    flags.DEFINE_string("unrelated", "x", "", flag_values=values)
    values(["prog"])
    config = from_flags(TrainConfig, values, seed=3)
    assert config == TrainConfig(epochs=7, learning_rate=0.5, seed=3)  # the rest stay at their defaults


def test_a_user_error_is_one_line_and_exit_code_2(capsys):
    def fails():
        raise DataError("loans.csv: column 'income' row 3 holds 'lots'")

    with pytest.raises(SystemExit) as stop:
        run_reporting_user_errors(fails)
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: loans.csv: column 'income' row 3 holds 'lots'\n"
    with pytest.raises(SystemExit) as stop:
        main_running(fails)(["prog"])
    assert stop.value.code == 2


def test_stray_arguments_are_one_line_and_exit_code_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main_running(lambda: None)(["prog", "stray"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "error: unexpected argument(s) ['stray']: every setting is a flag (--name=value); see --help\n"
    )
