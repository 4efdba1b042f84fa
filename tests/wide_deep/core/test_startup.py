"""TensorFlow's start-up notices are filtered; anything else it prints at import still reaches the user."""

import subprocess
import sys

from wide_deep.core.startup import has_nvidia_driver, unexpected_lines

STARTUP = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796042794.997304   23476 port.cc:153] oneDNN custom operations are on. You may see slightly different.
I0000 00:00:1796042794.999126   23476 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796042795.089997   23476 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796042797.027779   23476 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""  # noqa: E501


def test_known_notices_are_dropped_and_other_lines_kept():
    real = "E0000 00:00:1.0 1 op_kernel.cc:1] something actually broke"
    assert unexpected_lines(STARTUP, nvidia_driver=False) == []
    assert unexpected_lines(STARTUP + real + "\n", nvidia_driver=False) == [real]


def test_cuinit_failure_is_shown_where_a_driver_exists():
    kept = unexpected_lines(STARTUP, nvidia_driver=True)
    assert len(kept) == 1 and "failed call to cuInit" in kept[0]


def test_the_first_tensorflow_import_of_a_process_is_quiet():
    code = (
        "import sys\n"
        "from wide_deep.core.startup import quiet_tensorflow_import\n"
        "quiet_tensorflow_import()\n"
        "import keras\n"
        "import tensorflow as tf\n"
        "print(int(tf.constant(2) + 1))\n"
        "print('after import', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "3"
    assert "after import" in done.stderr  # stderr is restored after the import
    assert "oneDNN" not in done.stderr and "absl::InitializeLog" not in done.stderr
    if not has_nvidia_driver():
        assert "cuInit" not in done.stderr, done.stderr
