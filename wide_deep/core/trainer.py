"""Estimator-style trainer: train, evaluate, predict and export one Wide & Deep model in a run's folder.

Training runs a custom loop inside a `tf.distribute` strategy (the default strategy on one machine) rather than
`Model.fit`, which fails under `MultiWorkerMirroredStrategy` in Keras 3. Preprocessing is deterministic and
stateless once fitted, so each split is encoded once by the in-model preprocessor (`Estimator.encode`, in
blocks of rows) and the loop only runs the trainable core: the epochs are `wide_deep.core.epochs` (held rows or
streamed files), the checkpoints `wide_deep.core.checkpoints` (resume, the best weights), the end of each epoch
early stopping, history.csv and TensorBoard (`wide_deep.core.callbacks`).

The trainer writes where `TrainingFiles` says; `wide_deep.record.model_dir` decides those paths.
"""

from __future__ import annotations

import hashlib
import math
import time

import keras
import numpy as np
import tensorflow as tf

from feature_columns.errors import UserError
from feature_columns.fitting import FittedState
from feature_columns.preprocessor import EncodedLayout, build_preprocessor, raw_inputs
from feature_columns.spec import ModelSpec
from wide_deep.core import tensors
from wide_deep.core.callbacks import EarlyStopping, HistoryLog, SummaryLog
from wide_deep.core.checkpoints import Checkpoints, TrainingFiles
from wide_deep.core.cluster import ClusterIdentity
from wide_deep.core.config import OPTIMIZERS, ModelConfig, TrainConfig
from wide_deep.core.epochs import EpochRunner
from wide_deep.core.model import branch_variables, build_core, build_serving_model
from wide_deep.core.tensors import EncodedSplit
from wide_deep.core.warm_start import WideStart
from wide_deep.core.warm_start import apply as warm_start_core
from wide_deep.data.training_input import TrainingInput
from wide_deep.ranking import auc


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate)
    if name == "ftrl":
        return keras.optimizers.Ftrl(learning_rate)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    raise UserError(f"optimizer {name!r} is not one of {list(OPTIMIZERS)}")


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Default probabilities from the core's logits (`Estimator.logits_encoded`), as `predict_encoded` gives them."""
    return tf.sigmoid(logits).numpy().astype("float64")


class Estimator:
    """Train, evaluate, predict and export one Wide & Deep model."""

    def __init__(
        self,
        files: TrainingFiles,
        spec: ModelSpec,
        state: FittedState,
        model_config: ModelConfig,
        train_config: TrainConfig,
        strategy: tf.distribute.Strategy | None = None,
        log=print,
        encoder: tensors.Encoder | None = None,
    ):
        self.files = files
        self.spec = spec
        self.state = state
        self.model_config = model_config
        self.config = train_config
        self.strategy = strategy or tf.distribute.get_strategy()
        # multi-worker data parallelism: one CPU replica per worker, each training its own share of every batch
        self.cluster = ClusterIdentity.from_strategy(self.strategy)
        if train_config.batch_size % self.cluster.num_workers:
            raise UserError(
                f"--batch_size={train_config.batch_size} must be divisible by the number of workers "
                f"({self.cluster.num_workers}): each worker trains batch_size / workers rows of every batch"
            )
        self.log = log
        keras.utils.set_random_seed(train_config.seed)
        if train_config.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.encoder = encoder or tensors.Encoder(spec, state, train_config.eval_batch_size)
        self.preprocessor, self.layout = self.encoder.preprocessor, self.encoder.layout
        with self.strategy.scope():
            self._build_model()
        trackables = {"core": self.core, "epoch": self.epoch, **self.early_stopping.trackables()}
        trackables.update(
            {k: v for k, v in (("wide_optimizer", self.wide_optimizer), ("deep_optimizer", self.deep_optimizer)) if v}
        )
        self.checkpoints = Checkpoints(files, trackables, self.core, lambda message: self.log(message))
        self.history_log = HistoryLog(files.history)
        self.steps = EpochRunner(self)
        self._logit_fn = tf.function(lambda encoded: self.core(encoded, training=False))

    def _build_model(self) -> None:
        """The core, an optimizer per branch (built, so that a checkpoint restores their slots), the epoch counter
        and the early-stopping state."""
        config = self.config
        self.core = build_core(self.layout, self.model_config)
        self.wide_vars, self.deep_vars = branch_variables(self.core)
        wide_lr = config.wide_learning_rate or config.learning_rate
        self.wide_optimizer = make_optimizer(config.wide_optimizer, wide_lr) if self.wide_vars else None
        self.deep_optimizer = make_optimizer(config.deep_optimizer, config.learning_rate) if self.deep_vars else None
        for opt, variables in ((self.wide_optimizer, self.wide_vars), (self.deep_optimizer, self.deep_vars)):
            if opt is not None:
                opt.build(variables)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.early_stopping = EarlyStopping(config.early_stopping_patience)

    # --- data -------------------------------------------------------------------------
    def encode(self, arrays: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        """Run the fitted preprocessing once over a split, giving the core's inputs (see `tensors.Encoder`)."""
        return self.encoder.encode(arrays)

    def encode_split(self, arrays: dict[str, np.ndarray], labels: np.ndarray) -> EncodedSplit:
        return self.encoder.encode_split(arrays, labels)

    # --- training ---------------------------------------------------------------------
    def train_epoch(self, encoded: dict, labels, epoch: int, holds_own_share: bool = False) -> float:
        """One epoch over held, encoded rows; the mean training loss (`EpochRunner.train_epoch`)."""
        return self.steps.train_epoch(encoded, labels, epoch, holds_own_share)

    def epoch_order(self, encoded: dict, labels, epoch: int):
        return self.steps.epoch_order(encoded, labels, epoch)

    def max_epochs(self, rows_per_epoch: int) -> int:
        """`epochs`, raised for small data so that training may take at least `min_steps` optimizer steps."""
        steps_per_epoch = max(1, math.ceil(rows_per_epoch / self.config.batch_size))
        return max(self.config.epochs, math.ceil(self.config.min_steps / steps_per_epoch))

    def train(
        self,
        training: TrainingInput,
        train: EncodedSplit | None,
        valid: EncodedSplit,
        on_epoch_end=None,
        warm_start: WideStart | None = None,
    ) -> list[dict]:
        """Train until the epoch limit or early stopping; afterwards the core holds the best validation weights.

        `train` is the encoded training split when the rows are held (None when `training` is
        streamed, whose epochs read the files through its stream). A `warm_start` (a fresh run
        only) is written into the wide branch and evaluated as epoch 0, a candidate for the best
        weights like every epoch after it.

        `on_epoch_end(row)` may add entries to the epoch's history row (e.g. test metrics for a
        sensitivity curve); it never influences training or model selection.
        """
        max_epochs = self.max_epochs(training.rows_per_epoch)
        self._begin(valid, warm_start, max_epochs)
        history = self.history_log.read()[: int(self.epoch.numpy())]
        labels = None if training.is_streamed else tf.constant(train.labels.astype("float32"))
        summaries = SummaryLog(self.files.summaries)
        while int(self.epoch.numpy()) < max_epochs and not self.early_stopping.should_stop:
            row = self._epoch(training, train, labels, valid, max_epochs)
            if on_epoch_end is not None:
                on_epoch_end(row)
            history.append(row)
            # history first, then the checkpoint: a process killed in between redoes this epoch on
            # resume (history is cut back to the checkpoint's epoch), so the two never disagree
            self.history_log.write(history)
            self.checkpoints.save_epoch(row["epoch"])
            summaries.write(row)
        self._say_why_it_ended(history, max_epochs)
        self.restore_best()
        return history

    def _begin(self, valid: EncodedSplit, warm_start: WideStart | None, max_epochs: int) -> None:
        """Resume from the newest checkpoint, or start a fresh run (from the warm start, evaluated as epoch 0)."""
        if self.cluster.num_workers > 1:
            resumed = self.checkpoints.restore_shared(
                self.strategy, self.cluster, max(self.config.epochs, self.config.min_steps)
            )
        else:
            resumed = self.checkpoints.restore_latest()
        if resumed:
            self.log(
                f"resuming from {resumed} (epoch {int(self.epoch.numpy())}, "
                f"best validation AUC {self.early_stopping.best:.4f})"
            )
        elif warm_start is not None and not self.checkpoints.has_best:
            warm_start_core(self.core, warm_start)
            self.initial_val_auc = auc(valid.labels, self.predict_encoded(valid.features))
            self.early_stopping.update(self.initial_val_auc)
            self.checkpoints.save_best(0)
            self.log(
                f"epoch   0/{max_epochs}  the wide branch starts as a logistic regression (C={warm_start.c:g}, "
                f"chosen on validation)  val_auc {self.initial_val_auc:.4f} *"
            )
        if max_epochs > self.config.epochs and not resumed:
            self.log(
                f"small data: up to {max_epochs} epochs, so that training may take {self.config.min_steps:,} steps"
            )

    def _epoch(self, training: TrainingInput, train, labels, valid: EncodedSplit, max_epochs: int) -> dict:
        """Train one epoch, validate, keep the weights when they are the best so far; the epoch's history row."""
        epoch = int(self.epoch.numpy()) + 1
        start = time.perf_counter()
        if training.is_streamed:
            loss = self.steps.stream_epoch(training.stream, epoch)
        else:
            loss = self.steps.train_epoch(train.features, labels, epoch, training.holds_own_share)
        seconds = time.perf_counter() - start
        valid_scores = self._checked_scores(loss, valid, epoch)
        val_auc = auc(valid.labels, valid_scores)
        val_loss = float(
            tf.reduce_mean(tf.keras.losses.binary_crossentropy(valid.labels.astype("float32"), valid_scores)).numpy()
        )
        improved = self.early_stopping.update(val_auc)
        if improved:
            self.checkpoints.save_best(epoch)
        self.epoch.assign(epoch)
        self.log(
            f"epoch {epoch:3d}/{max_epochs}  loss {loss:.4f}  val_loss {val_loss:.4f}  val_auc {val_auc:.4f}"
            f"{' *' if improved else '  '}  {training.rows_per_epoch / seconds:,.0f} examples/s"
        )
        return {
            "epoch": epoch,
            "loss": loss,
            "val_loss": val_loss,
            "val_auc": val_auc,
            "examples_per_sec": training.rows_per_epoch / seconds,
            "seconds": seconds,
        }

    def _checked_scores(self, loss: float, valid: EncodedSplit, epoch: int) -> np.ndarray:
        """The validation scores after an epoch, or TrainingDiverged when the loss or the scores are not finite."""
        rate = self.config.learning_rate
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the training loss is {loss}; lower --learning_rate "
                f"(now {rate:g}) or --wide_learning_rate. The last good checkpoint is kept."
            )
        scores = self.predict_encoded(valid.features)
        if not np.isfinite(scores).all():
            raise TrainingDiverged(
                f"training diverged in epoch {epoch}: the model's scores are no longer finite; lower "
                f"--learning_rate (now {rate:g}). The last good checkpoint is kept."
            )
        return scores

    def _say_why_it_ended(self, history: list[dict], max_epochs: int) -> None:
        if self.early_stopping.should_stop:
            self.log(f"early stopping: no validation AUC gain for {self.config.early_stopping_patience} epochs")
        elif history and history[-1]["val_auc"] >= self.early_stopping.best:
            self.log(
                f"the run ended at its limit of {max_epochs} epochs still improving (the best validation AUC is "
                f"the last epoch's): raise --epochs (or --min_steps) and rerun to continue"
            )

    def best_epoch(self, history: list[dict]) -> int | None:
        """The epoch whose weights the run keeps (0: the warm start itself)."""
        if not history:
            return 0 if self.checkpoints.has_best else None
        best = int(np.argmax([h["val_auc"] for h in history]))
        return 0 if self.early_stopping.best > history[best]["val_auc"] else best + 1

    def fingerprint(self) -> str:
        """A short hash of the trained weights: ties the evidence, the metrics and an export to one model."""
        digest = hashlib.sha256()
        for variable in self.core.weights:
            digest.update(variable.path.encode())
            digest.update(np.ascontiguousarray(variable.numpy()).tobytes())
        return digest.hexdigest()[:16]

    def restore_best(self) -> None:
        """Load the best validation weights (the model this run stands for)."""
        self.checkpoints.restore_best()

    def keep_as_best(self, epoch: int = 0) -> None:
        """Save the core's current weights as the run's model (a blended or merged model)."""
        self.checkpoints.save_best(epoch)

    # --- inference --------------------------------------------------------------------
    def logits_encoded(self, encoded: dict[str, tf.Tensor]) -> np.ndarray:
        """The core's logits for encoded rows (float32, in chunks of `eval_batch_size`)."""
        return tf.concat(
            [self._logit_fn(part) for part in tensors.chunks(encoded, self.config.eval_batch_size)], axis=0
        ).numpy()

    def predict_encoded(self, encoded: dict[str, tf.Tensor]) -> np.ndarray:
        """Default probabilities for encoded rows."""
        return probabilities(self.logits_encoded(encoded))

    def predict(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Default probabilities for raw feature arrays (the same graph the export serves)."""
        return self.predict_encoded(self.encode(arrays))

    def serving_model(self) -> keras.Model:
        """Preprocessing (rebuilt to also report unseen categories; it has no trained state) and the core."""
        preprocessor, _ = build_preprocessor(self.spec, self.state, report_unseen=True)
        return build_serving_model(preprocessor, self.core, raw_inputs(self.spec))


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: the settings (usually the learning rate) are the mistake."""


def steady_state_throughput(history: list[dict]) -> float:
    """Median examples/s over epochs after the first (which includes graph tracing)."""
    rates = [h["examples_per_sec"] for h in history]
    return float(np.median(rates[1:] if len(rates) > 1 else rates)) if rates else float("nan")


def layout_summary(layout: EncodedLayout, model: ModelConfig) -> list[str]:
    """What each branch reads, one line per branch (the training log's model summary)."""
    lines = []
    if layout.has_wide:
        trees = len(layout.wide_segments) - layout.column_segments
        wide = [f"{layout.column_segments} one-hot column(s) ({layout.wide_size:,} weights in all)"]
        wide += [f"{trees} GBDT tree(s) (a leaf each)"] if trees else []
        wide += [f"{len(layout.wide_dense_names)} numeric feature(s)"] if layout.wide_dense_names else []
        lines.append("  wide: " + " + ".join(wide))
    if layout.has_deep:
        deep = [f"{len(layout.deep_dense_names)} numeric feature(s)"] if layout.deep_dense_names else []
        if layout.deep_embeddings:
            deep.append("embeddings (width) " + ", ".join(f"{name} {dim}" for name, _, dim in layout.deep_embeddings))
        deep += [
            f"sequence {name} ({steps} steps × {width - 1} channels) → {model.sequence_tower.upper()} "
            f"{model.sequence_units}"
            for name, steps, width in layout.sequences
        ]
        lines.append("  deep: " + ", ".join(deep) + " → " + "-".join(map(str, model.hidden_units)) + " ReLU")
    if model.fusion != "sum" and layout.has_wide and layout.has_deep:
        lines.append(f"  fusion: per-applicant {model.fusion} weights of the wide and deep logits")
    return lines
