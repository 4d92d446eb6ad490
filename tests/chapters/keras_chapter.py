"""The "Parameter Management" chapter's models in Keras 3 (on the KERAS_BACKEND backend), and Keras-native readers.

Layers get explicit names (the ones a fresh kernel would give them) so that paths do not depend on Keras'
global name counters, which move with every model the test session builds. Models and initializers use
`keras.ops` and `keras.random`; a training step and the global random state are written per backend
(TensorFlow's GradientTape, torch's backward, jax.grad over stateless_call), as a user of that backend writes them.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

import keras
import numpy as np
from keras import layers
from keras.src.backend.common import global_state
from keras.src.ops.function import make_node_key

BACKEND = keras.backend.backend()
ops = keras.ops
# Inputs from a private generator: drawing them moves no global random state.
_INPUTS = np.random.default_rng(0)


def uniform(*shape: int) -> Any:
    """A float32 batch of U(0, 1) values, as a tensor of the backend."""
    return ops.convert_to_tensor(_INPUTS.uniform(size=shape).astype("float32"))


class FancyMLP(keras.Model):
    """The chapter's custom model: a constant (frozen) weight, a layer used twice, Python control flow."""

    def __init__(self) -> None:
        super().__init__(name="fancy_mlp")
        self.flatten = layers.Flatten(name="flatten")
        self.dense = layers.Dense(20, activation="relu", name="dense")

    def build(self, input_shape: Any) -> None:
        # Keras' way of holding the chapter's constant: a weight that training leaves alone.
        self.rand_weight = self.add_weight(shape=(20, 20), initializer="random_uniform", trainable=False,
                                           name="rand_weight")

    def call(self, X: Any) -> Any:
        X = self.flatten(X)
        X = self.dense(X)
        X = ops.relu(ops.matmul(X, self.rand_weight) + 1)
        X = self.dense(X)  # the same layer twice: its variables are used twice
        while ops.sum(ops.abs(X)) > 1:
            X /= 2
        return ops.sum(X)


class MyInit(keras.initializers.Initializer):
    """The chapter's "strange distribution": U(-10, 10), then zero where |w| < 5."""

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        data = keras.random.uniform(shape, -10, 10, dtype=dtype)
        factor = ops.cast(ops.abs(data) >= 5, data.dtype)
        return data * factor


def failing_init(shape: Any, dtype: Any = None) -> Any:
    """Fills weight matrices with 7, then raises on the first bias: atomicity must undo the partial change."""
    if len(shape) < 2:
        raise RuntimeError("boom")
    return ops.full(shape, 7.0, dtype=dtype)


def wrong_shape_init(shape: Any, dtype: Any = None) -> Any:
    return ops.zeros(3)


def block1(name: str) -> keras.Model:
    return keras.Sequential([layers.Flatten(name="flatten"),
                             layers.Dense(4, activation="relu", name="dense")], name=name)


def block2() -> keras.Model:
    net = keras.Sequential(name="block2")
    for i in range(4):
        net.add(block1(name=f"block-{i}"))  # nested here, as in the chapter
    return net


def calls(model: Any, layer: Any) -> int:
    """How many times a functional `model` calls `layer` (its graph nodes); 1 elsewhere."""
    nodes = getattr(model, "_nodes", None)
    if not isinstance(model, keras.Model) or nodes is None or isinstance(model, keras.Sequential):
        return 1
    return max(1, sum(1 for k in range(len(layer._inbound_nodes)) if make_node_key(layer, k) in nodes))


def walk(layer: Any, path: str | None = None) -> list[tuple[Any, str]]:
    """(layer, path) of every layer use in Keras' own order (a model's `layers`), InputLayers left out. A
    layer that a functional model calls n times is listed n times, the k-th call (k >= 2) at "<path>@k"."""
    out = [(layer, layer.path if path is None else path)]
    found = layer.layers if isinstance(layer, keras.Model) else layer._layers
    for child in found:
        if isinstance(child, keras.layers.InputLayer):
            continue
        for k in range(1, calls(layer, child) + 1):
            out.extend(walk(child, child.path if k == 1 else f"{child.path}@{k}"))
    return out


class KerasChapter:
    framework = f"keras/{BACKEND}"
    # Where the chapter's named places are, in Keras' own paths (layer.path, variable.path).
    mlp_first = "sequential/dense"
    mlp_first_weight = "sequential/dense/kernel"
    mlp_last_bias = "sequential/dense_1/bias"
    mlp_last_bias_code = "net.layers[1].weights[1]"
    rgnet_deep_bias = "rgnet/block2/block-1/dense/bias"
    rgnet_deep_bias_code = "rgnet.layers[0].layers[1].layers[1].weights[1]"
    rgnet_inner_block = "rgnet/block2/block-1"
    shared_uses = ("shared/kernel", "shared@2/kernel")  # the second call of a shared layer is "<path>@2"
    tie_pair = ("rgnet/block2/block-0/dense/kernel", "rgnet/block2/block-1/dense/kernel")
    lazy_state = "unbuilt"
    # A value of the wrong shape for mlp_first_weight (4x8 here: Keras kernels are (inputs, units)).
    wrong_shape_value: ClassVar[list[list[float]]] = [[1.0, 2.0, 3.0]]
    my_init = MyInit()
    failing_init = staticmethod(failing_init)
    wrong_shape_init = staticmethod(wrong_shape_init)

    def __init__(self) -> None:
        self._grads: dict[int, Any] = {}

    def X(self) -> Any:
        return uniform(2, 4)

    def forward(self, net: Any, X: Any) -> Any:
        return net(X)

    def mlp(self) -> keras.Model:
        net = keras.Sequential([layers.Dense(8, activation="relu", name="dense"),
                                layers.Dense(1, name="dense_1")], name="sequential")
        net(self.X())
        return net

    def rgnet(self) -> keras.Model:
        net = keras.Sequential([block2(), layers.Dense(1, name="dense")], name="rgnet")
        net(self.X())
        return net

    def fancy(self) -> keras.Model:
        net = FancyMLP()
        net(uniform(2, 20))
        return net

    def shared_net(self) -> keras.Model:
        inputs = keras.Input((4,), name="input_layer")
        x = layers.Dense(8, activation="relu", name="dense")(inputs)
        shared = layers.Dense(8, activation="relu", name="shared")
        x = shared(x)
        x = shared(x)  # the same layer called twice: one variable, two uses
        outputs = layers.Dense(1, name="dense_1")(x)
        return keras.Model(inputs, outputs, name="functional")

    def lazy_net(self) -> keras.Model:
        return keras.Sequential([layers.Dense(8, activation="relu", name="dense"),
                                 layers.Dense(1, name="dense_1")], name="sequential")

    def uses(self, net: Any) -> list[tuple[str, Any, Any, str]]:
        """(path, variable, layer, slot) of every variable use: a layer's tracked variables, at Keras' path
        when the variable was made there, else at the layer's path plus its name (a slot tied elsewhere)."""
        out = []
        for layer, layer_path in walk(net):
            seen: set[int] = set()
            for var in list(layer._trainable_variables) + list(layer._non_trainable_variables):
                if id(var) in seen:
                    continue
                seen.add(id(var))
                home = var.path.rsplit("/", 1)[0] if "/" in var.path else ""
                path = var.path if home == layer_path else f"{layer_path}/{var.name}"
                out.append((path, var, layer, var.name))
        return out

    def own_param_paths(self, net: Any) -> list[str]:
        return [path for path, _, _, _ in self.uses(net)]

    def own_block_paths(self, net: Any) -> list[str]:
        return [""] + [path for _, path in walk(net)[1:]]

    def n_unique_params(self, net: Any) -> int:
        return sum(int(np.prod(v.shape)) for v in net.weights)

    def param(self, net: Any, path: str) -> Any:
        return {p: v for p, v, _, _ in self.uses(net)}[path]

    def read(self, net: Any, path: str) -> np.ndarray:
        return np.array(self.param(net, path).numpy(), copy=True)

    def to_numpy(self, obj: Any) -> np.ndarray:
        return np.array(keras.ops.convert_to_numpy(obj), copy=True)

    def read_any(self, net: Any, path: str) -> np.ndarray:
        """Any variable (moving statistics too) by its Keras path."""
        return np.array({v.path: v for v in net.weights}[path].numpy(), copy=True)

    def backward(self, net: Any, X: Any) -> None:
        """One training step as a user of the backend writes it, then the optimizer applies the gradients."""
        optimizer = keras.optimizers.SGD(learning_rate=0.01)
        grads = _STEPS[BACKEND](net, X, optimizer)
        self._grads = {id(v): np.array(keras.ops.convert_to_numpy(g))
                       for v, g in zip(net.trainable_variables, grads, strict=True)}

    def grad(self, net: Any, path: str) -> np.ndarray:
        """The tape's own gradient of the variable at `path` in the last backward()."""
        return np.array(self._grads[id(self.param(net, path))], copy=True)

    def same_param(self, net: Any, a: str, b: str) -> bool:
        return self.param(net, a) is self.param(net, b)

    def state(self, net: Any) -> dict[str, Any]:
        """Raw bytes of every variable use, which uses share one object, and which variable each layer
        attribute holds (what the forward pass reads): bit-identity of values and bindings."""
        first: dict[int, str] = {}
        out: dict[str, Any] = {}
        for path, var, _, _ in self.uses(net):
            value = var.numpy()
            out[path] = (value.tobytes(), str(value.dtype), tuple(value.shape),
                         first.setdefault(id(var), path), bool(var.trainable))
        for layer, layer_path in walk(net):
            bound = sorted((name, first.get(id(v), "?")) for name, v in vars(layer).items()
                           if isinstance(v, keras.Variable))
            out[f"{layer_path}#attrs"] = tuple(bound)
        return out

    def rng_state(self) -> Any:
        """numpy's, Python's, Keras' and the backend's global random state (TensorFlow: op seed and global
        Generator; torch: the CPU generator and each CUDA device's; JAX has none)."""
        keras_gen = global_state.get_global_attribute("global_seed_generator")
        np_state = np.random.get_state()
        return (
            np_state[0], np_state[1].tobytes(), np_state[2:],
            random.getstate(),
            None if keras_gen is None else keras.ops.convert_to_numpy(keras_gen.state.value).tobytes(),
            _backend_rng_state(),
        )

    # -- the chapter's initialization section, exactly (issue #19) ---------------------------------------------

    def init_normal_loop(self, net: Any, seed: int) -> None:
        """The chapter's normal init as a loop over `net.weights` from `keras.utils.set_random_seed(seed)`:
        kernels from a fresh RandomNormal(stddev=0.01) each, biases zero."""
        keras.utils.set_random_seed(seed)
        for var in net.weights:
            init = keras.initializers.RandomNormal(mean=0.0, stddev=0.01) if var.name != "bias" else "zeros"
            var.assign(keras.initializers.get(init)(var.shape, dtype=var.dtype))

    def normal_everything_loop(self, net: Any, seed: int) -> None:
        keras.utils.set_random_seed(seed)
        for var in net.weights:
            var.assign(keras.initializers.RandomNormal(mean=0.0, stddev=0.01)(var.shape, dtype=var.dtype))

    init_constant = keras.initializers.Constant(1.0)  # the chapter's kernel_initializer=Constant(1)
    init_constant_values = (1.0, 1.0)
    my_init_as_written = MyInit  # the chapter passes the class

    def initializer_namespace(self) -> tuple[dict[str, Any], set[str]]:
        import builtins

        def torch_style(m: Any) -> None:
            """fn(module), as PyTorch's net.apply calls it: not a Keras initializer."""

        def from_shape(shape: Any, dtype: Any = None) -> Any:
            return keras.ops.zeros(shape, dtype=dtype)

        namespace = {
            "MyInit": MyInit, "my_init": MyInit(), "glorot": keras.initializers.GlorotUniform(seed=1),
            "from_shape": from_shape, "init_constant": self.init_constant,
            "exit": builtins.exit, "quit": builtins.quit, "open": open, "print": print, "block1": block1,
            "block2": block2, "net": self.mlp(), "torch_style": torch_style, "np": np, "X": self.X(),
            "FancyMLP": FancyMLP, "Dense": layers.Dense, "Initializer": keras.initializers.Initializer,
        }
        return namespace, {"MyInit", "my_init", "glorot", "from_shape", "init_constant"}

    def depthwise_net(self) -> keras.Model:
        net = keras.Sequential([layers.DepthwiseConv2D(3, name="dw"),
                                layers.DepthwiseConv2D(1, use_bias=False, name="dw2"),  # as MobileNetV2's
                                layers.SeparableConv2D(8, 1, name="sep"),
                                layers.Conv2D(4, 1, name="conv")], name="dwnet")
        net(uniform(1, 6, 6, 4))
        return net

    def bn_net(self) -> keras.Model:
        net = keras.Sequential([layers.Dense(8, name="dense"), layers.BatchNormalization(name="bn"),
                                layers.Dense(1, name="dense_1")], name="bnnet")
        for _ in range(2):
            net(uniform(16, 4) * 3 + 1, training=True)
        return net

    bn_running_var = "bnnet/bn/moving_variance"
    bn_running_mean = "bnnet/bn/moving_mean"

    def native_counts(self, net: Any) -> tuple[int, int, int]:
        """(parameters, running statistics, count_params()): Keras' own count includes the moving statistics."""
        stats = sum(int(np.prod(v.shape)) for layer in net._flatten_layers()
                    if isinstance(layer, layers.BatchNormalization) for v in layer.non_trainable_weights)
        total = net.count_params()
        return total - stats, stats, total

    def forward_eval(self, net: Any) -> np.ndarray:
        return np.asarray(keras.ops.convert_to_numpy(net(uniform(4, 4), training=False)))

    def user_seeded_init(self) -> tuple[Any, Any]:
        def draw(shape: Any) -> np.ndarray:
            return np.asarray(keras.initializers.GlorotUniform(seed=3)(tuple(shape)))

        return keras.initializers.GlorotUniform(seed=3), draw

    @staticmethod
    def printing_init(shape: Any, dtype: Any = None) -> Any:
        print(f"init {shape[-1]} rows")
        return keras.ops.zeros(shape, dtype=dtype)

    @staticmethod
    def exiting_init(shape: Any, dtype: Any = None) -> Any:
        raise SystemExit(shape)


def _step_tensorflow(net: Any, X: Any, optimizer: Any) -> list[Any]:
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(net(X))
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables, strict=True))
    return list(grads)


def _step_torch(net: Any, X: Any, optimizer: Any) -> list[Any]:
    import torch

    for v in net.trainable_variables:
        v.value.grad = None
    ops.sum(net(X)).backward()
    grads = [v.value.grad for v in net.trainable_variables]
    with torch.no_grad():
        optimizer.apply(grads, net.trainable_variables)
    return grads


def _step_jax(net: Any, X: Any, optimizer: Any) -> list[Any]:
    import jax

    trainable = [v.value for v in net.trainable_variables]
    frozen = [v.value for v in net.non_trainable_variables]

    def loss(values: list[Any]) -> Any:
        y, _ = net.stateless_call(values, frozen, X)
        return ops.sum(y)

    grads = jax.grad(loss)(trainable)
    optimizer.build(net.trainable_variables)
    new, slots = optimizer.stateless_apply([v.value for v in optimizer.variables], grads, trainable)
    for var, value in zip(net.trainable_variables, new, strict=True):
        var.assign(value)
    for var, value in zip(optimizer.variables, slots, strict=True):
        var.assign(value)
    return list(grads)


_STEPS = {"tensorflow": _step_tensorflow, "torch": _step_torch, "jax": _step_jax}


def _backend_rng_state() -> Any:
    if BACKEND == "tensorflow":
        from tensorflow.python.eager import context as tf_context
        from tensorflow.python.ops import stateful_random_ops

        ctx = tf_context.context()
        rng = getattr(ctx, "_rng", None)
        generator = stateful_random_ops.global_generator
        return (ctx._seed, None if rng is None else rng.getstate(),
                None if generator is None else generator.state.numpy().tobytes())
    if BACKEND == "torch":
        import torch

        cuda = [s.numpy().tobytes() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_initialized() else []
        return torch.random.get_rng_state().numpy().tobytes(), cuda
    return None


CHAPTER = KerasChapter()
