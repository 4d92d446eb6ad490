"""The Keras adapter: the Adapter protocol's methods, each handed to the module of its concern."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keras
import numpy as np

from ...snapshots import Record
from ...tree import ModelIndex, TensorEntry
from .. import InitSpec, Moments, ReinitResult
from . import cloning, distribute, grads, paths, reinit, snapshot, tying, values, watch
from .backend import BACKEND

grads.install()


class KerasAdapter:
    framework = f"keras/{BACKEND.name}"  # "keras/tensorflow", "keras/torch", "keras/jax"

    def is_model(self, obj: Any) -> bool:
        if not isinstance(obj, keras.layers.Layer) or isinstance(obj, keras.layers.InputLayer):
            return False
        if not obj.built:
            return isinstance(obj, keras.Model) or bool(paths.pending_specs(obj)) or bool(paths.child_layers(obj))
        return bool(obj.weights)

    def index(self, model: Any, root: str = "net") -> ModelIndex:
        return paths.build_index(model, root)

    def structure_key(self, model: Any) -> tuple[Any, ...]:
        """Changes when a layer or variable is added, removed or replaced, a layer is built, or a variable is
        reshaped or cast: the listing's cache key, read without an index."""
        layers = list(model._flatten_layers(include_self=True, recursive=True))
        variables = model.weights
        return (tuple(map(id, layers)), tuple(layer.built for layer in layers), tuple(map(id, variables)),
                tuple((tuple(v.shape), v.dtype, v.trainable) for v in variables))

    def snapshot(self, index: ModelIndex, paths: list[str], grads: bool = False) -> Record:
        return snapshot.take(self, index, paths)  # gradients live on no Keras variable

    def rebound(self, model: Any) -> None:
        snapshot.rebound(model)

    def fingerprint(self, entry: TensorEntry, grad: bool = False) -> str:
        return "none" if grad else snapshot.fingerprint(entry)

    def chunks(self, entry: TensorEntry, grad: bool) -> Iterator[Any]:
        return values.chunks(entry, grad)

    def chunk_moments(self, chunk: Any) -> Moments:
        return values.chunk_moments(chunk)

    def chunk_stats(self, chunk: Any, bins: int) -> tuple[Moments, list[int] | None]:
        return values.chunk_stats(chunk, bins)

    def chunk_hist(self, chunk: Any, lo: float, hi: float, bins: int, finite: bool = False) -> list[int]:
        return values.chunk_hist(chunk, lo, hi, bins, finite)

    def replicas(self, entry: TensorEntry, grad: bool) -> dict[str, Any] | None:
        """For a variable under a tf.distribute strategy: its replicas and whether they hold the same values."""
        return None if grad else distribute.agreement(BACKEND.native(entry.obj))

    def sample_2d(self, entry: TensorEntry, grad: bool, rows: int, cols: int, rstep: int,
                  cstep: int) -> list[list[float]]:
        return values.sample_2d(entry, grad, rows, cols, rstep, cstep)

    def reinit(self, index: ModelIndex, target: str, entries: list[TensorEntry], init: InitSpec,
               seed: int | None) -> ReinitResult:
        return reinit.reinit(index, target, entries, init, seed)

    def set_value(self, entry: TensorEntry, value: Any, where: tuple[Any, ...] | None, mode: str) -> None:
        values.set_value(entry, value, where, mode)

    def tie(self, index: ModelIndex, entry: TensorEntry, to: TensorEntry) -> None:
        tying.tie(index, entry, to)

    def untie(self, index: ModelIndex, entry: TensorEntry) -> None:
        tying.untie(index, entry)

    def untie_block(self, index: ModelIndex, path: str) -> None:
        cloning.untie_block(index, path)

    def hook_steps(self, model: Any, index: ModelIndex, on_forward: Callable[[], ModelIndex | None],
                   on_grads: Callable[[list[TensorEntry]], None], recorded: Callable[[], bool]) -> Callable[[], None]:
        return watch.hook_steps(model, index, on_forward, on_grads, recorded)

    def watch_sums(self, entries: list[TensorEntry], grad: bool) -> list[tuple[int, float, float, int] | None]:
        return watch.watch_sums(entries, grad)

    def watch_copy(self, entry: TensorEntry) -> Any:
        return watch.watch_copy(entry)

    def host_copy(self, entry: TensorEntry) -> Any:
        """A numpy copy of the values on the host (one read of the variable, then `convert_to_numpy`)."""
        return BACKEND.reread(lambda: values.readable(entry, False),
                              lambda t: np.array(keras.ops.convert_to_numpy(t)))

    def transient(self, error: BaseException) -> bool:
        return BACKEND.transient(error)

    def watch_delta_norm(self, entry: TensorEntry, saved: Any) -> float:
        return watch.watch_delta_norm(entry, saved)

    def is_initializer(self, obj: Any) -> bool:
        return reinit.is_initializer(obj)
