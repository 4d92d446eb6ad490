"""Real model libraries as the acceptance suite (issue #17): models built by torchvision, Hugging Face
transformers, keras.applications and the Gluon model zoo, from code (no weights), CPU, small inputs.

For each: counts equal the framework's own count (tied parameters once), stats and values of every parameter
and buffer equal numpy on a copy, a default and a catalogue reinit of every block keep the forward finite and
running statistics valid, set_value, tie/untie where shapes allow, undo bit-identical, and every node's `code`
evaluates to the object it names.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import paramscope as ps
from paramscope import actions, protocol
from paramscope._errors import ActionError
from paramscope.adapters import adapter_for
from paramscope.stats import matrix_shape, tensor_stats, tensor_values
from tests.conftest import require

_KEEP: list[Any] = []  # the torch.library definitions below must outlive the import


def _torchvision() -> Any:
    """torchvision, importable beside the CPU build of torch.

    torchvision's models are pure Python; its C++ ops (`_C.so`) in the PyPI wheel are linked against the CUDA
    build of torch (libtorch_cuda, libc10_cuda) and do not load beside the CPU build, which torchvision
    tolerates, except that `torchvision/_meta_registrations.py` registers fake kernels for `torchvision::nms`
    and `torchvision::qnms` without checking, and that fails when the library never defined them. Defining the
    two schemas (no kernels) lets the import finish; none of the models here calls them."""
    pytest.importorskip("torch")
    try:
        import torchvision
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            raise
        import torch

        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(library)
        import torchvision
    return torchvision


# -- one adapter-neutral description per framework -----------------------------------------------------------

@dataclass
class Zoo:
    framework: str
    build: Callable[[], Any]
    forward: Callable[[Any], np.ndarray]
    tie_ok: bool = True


def _torch_read(obj: Any) -> np.ndarray:
    return obj.detach().cpu().numpy().copy()


def _keras_read(obj: Any) -> np.ndarray:
    return np.array(obj.numpy(), copy=True)


def _mxnet_read(obj: Any) -> np.ndarray:
    return obj.data().asnumpy().copy()


READ = {"pytorch": _torch_read, "keras": _keras_read, "mxnet": _mxnet_read}


def native_counts(framework: str, net: Any) -> tuple[int, int]:
    """(parameters, buffers) as the framework's own API counts them."""
    if framework == "pytorch":
        return sum(p.numel() for p in net.parameters()), sum(b.numel() for b in net.buffers())
    if framework == "keras":
        return net.count_params(), 0  # count_params() counts the moving statistics too: compared as a sum
    sizes = [(int(np.prod(p.shape)), p._differentiable) for p in net.collect_params().values()]
    return sum(n for n, learned in sizes if learned), sum(n for n, learned in sizes if not learned)


def _torch_zoo(name: str) -> Zoo:
    import torch

    def image(net: Any) -> np.ndarray:
        net.eval()
        with torch.no_grad():
            return net(torch.rand(1, 3, 32, 32)).numpy()

    def tokens(net: Any) -> np.ndarray:
        net.eval()
        with torch.no_grad():
            out = net(input_ids=torch.randint(0, 100, (1, 8)))
        return (out.logits if hasattr(out, "logits") else out.last_hidden_state).numpy()

    if name in ("resnet18", "mobilenet_v3_small", "vit_b_16"):
        models = _torchvision().models
        build = {"resnet18": models.resnet18, "mobilenet_v3_small": models.mobilenet_v3_small,
                 "vit_b_16": lambda: models.vit_b_16(image_size=32)}[name]
        return Zoo("pytorch", build, image)
    transformers = pytest.importorskip("transformers")
    small = {"vocab_size": 100, "max_position_embeddings": 32}
    if name == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=32)
        return Zoo("pytorch", lambda: transformers.GPT2LMHeadModel(config), tokens)
    if name == "bert":
        config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, **small)
        return Zoo("pytorch", lambda: transformers.BertModel(config), tokens)
    config = transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=1, **small)
    return Zoo("pytorch", lambda: transformers.LlamaForCausalLM(config), tokens)


def _keras_zoo(name: str) -> Zoo:
    import keras

    def build() -> Any:
        return getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3))

    def forward(net: Any) -> np.ndarray:
        return np.asarray(net(np.random.default_rng(0).random((1, 32, 32, 3), dtype="float32"), training=False))

    return Zoo("keras", build, forward)


def _mxnet_zoo(name: str, hybridize: bool) -> Zoo:
    import mxnet as mx
    from mxnet.gluon.model_zoo import vision

    import paramscope.adapters.mxnet_compat  # noqa: F401 - MXNet 1.9.1 needs numpy.bool

    size = 224 if name == "densenet121" else 32  # DenseNet ends in a 7x7 average pool

    def build() -> Any:
        net = getattr(vision, name)(pretrained=False)
        net.initialize()
        if hybridize:
            net.hybridize()
        net(mx.nd.random.uniform(shape=(1, 3, size, size)))
        return net

    def forward(net: Any) -> np.ndarray:
        return net(mx.nd.random.uniform(shape=(1, 3, size, size))).asnumpy()

    return Zoo("mxnet", build, forward)


slow = pytest.mark.slow
MODELS = [
    pytest.param("pytorch", "resnet18", id="torchvision-resnet18"),
    pytest.param("pytorch", "mobilenet_v3_small", id="torchvision-mobilenet_v3_small"),
    pytest.param("pytorch", "vit_b_16", id="torchvision-vit_b_16", marks=slow),
    pytest.param("pytorch", "gpt2", id="transformers-gpt2"),
    pytest.param("pytorch", "bert", id="transformers-bert"),
    pytest.param("pytorch", "llama", id="transformers-llama"),
    pytest.param("keras", "MobileNetV2", id="keras-MobileNetV2", marks=slow),
    pytest.param("keras", "ResNet50", id="keras-ResNet50", marks=slow),
    pytest.param("keras", "EfficientNetB0", id="keras-EfficientNetB0", marks=slow),
    pytest.param("mxnet", "resnet18_v1", id="gluon-resnet18_v1"),
    pytest.param("mxnet", "resnet18_v1-hybrid", id="gluon-resnet18_v1-hybridized"),
    pytest.param("mxnet", "mobilenet1_0", id="gluon-mobilenet1_0"),
    pytest.param("mxnet", "mobilenet1_0-hybrid", id="gluon-mobilenet1_0-hybridized"),
    pytest.param("mxnet", "densenet121-hybrid", id="gluon-densenet121-hybridized", marks=slow),
]


def zoo(framework: str, name: str) -> Zoo:
    require(framework)
    if framework == "pytorch":
        return _torch_zoo(name)
    if framework == "keras":
        return _keras_zoo(name)
    base, _, hybrid = name.partition("-")
    return _mxnet_zoo(base, bool(hybrid))


# -- the checks ------------------------------------------------------------------------------------------------

def check_counts(framework: str, net: Any, tree: ps.Node) -> None:
    params, buffers = native_counts(framework, net)
    if framework == "keras":
        assert tree.n_params + tree.n_buffers == params
    else:
        assert (tree.n_params, tree.n_buffers) == (params, buffers)


def check_stats_and_values(framework: str, net: Any) -> None:
    adapter = adapter_for(net)
    assert adapter is not None
    index = adapter.index(net, "net")
    read = READ[framework]
    for entry in index.tensors.values():
        if index.canonical_tensor(entry.path) != entry.path:
            continue
        copy = read(entry.obj)
        stats = tensor_stats(adapter, entry)
        assert stats["available"], (entry.path, stats)
        assert stats["numel"] == copy.size, entry.path
        x = copy.astype(np.float64).ravel()
        # Float32 rounding, as tests/test_stats.py holds every adapter to: the mean within 1e-6 of the data's
        # scale (a mean near 0 of values of size 0.1 is not known to 1e-6 of itself), the rest to 1e-6 relative.
        rms = float(np.sqrt(np.mean(x * x)))
        assert abs(stats["mean"] - x.mean()) <= 1e-6 * (rms + abs(x.mean())) + 1e-12, (entry.path, stats["mean"])
        for key, want in (("std", x.std()), ("min", x.min()), ("max", x.max())):
            assert math.isclose(stats[key], want, rel_tol=1e-6, abs_tol=1e-9), (entry.path, key, stats[key], want)
        values = tensor_values(adapter, entry)
        assert values["available"], (entry.path, values)
        matrix = copy.reshape(matrix_shape(list(copy.shape))).astype(np.float64)
        sample = matrix[:: values["row_step"], :: values["col_step"]][: values["rows"], : values["cols"]]
        np.testing.assert_allclose(np.array(values["data"], dtype=np.float64), sample, rtol=1e-6, err_msg=entry.path)


def check_code(framework: str, net: Any, tree: ps.Node) -> None:
    adapter = adapter_for(net)
    assert adapter is not None
    index = adapter.index(net, "net")
    for node in tree.walk():
        obj = eval(node.code, {"net": net})  # "copy as code" reaches the very object
        want = index.tensors[node.path].obj if node.path in index.tensors else index.blocks[node.path].obj
        assert obj is want, (node.path, node.code)


def blocks_with_params(tree: ps.Node) -> list[str]:
    """Every block that has parameters of its own use (the model, stages, units, and each layer: all 367 of a
    DenseNet-121, all 108 of a flat Keras ResNet50); a block that is another's alias is the same block."""
    return [n.path for n in tree.walk() if n.kind in ("model", "block") and n.n_params and n.tied_to is None]


def reinit_every_block(net: Any, blocks: list[str], init: str, **args: Any) -> None:
    for path in blocks:
        try:
            result = ps.reinit(net, path, init, **args)
        except ActionError as e:  # a block whose every layer has no default of its own says so
            assert "nothing to initialize" in str(e) and "no reset_parameters" in str(e), (path, e)
            continue
        assert result["changed"], path


def check_running_statistics_kept(framework: str, net: Any) -> None:
    """A catalogue reinit of the whole model leaves running statistics alone and lists them as kept."""
    adapter = adapter_for(net)
    assert adapter is not None
    index = adapter.index(net, "net")
    buffers = {p: READ[framework](e.obj) for p, e in index.tensors.items() if e.kind == "buffer"}
    result = ps.reinit(net, "", "normal", std=0.02, seed=1)
    for path, before in buffers.items():
        np.testing.assert_array_equal(READ[framework](index.tensors[path].obj), before, err_msg=path)
    kept = {k["path"] for k in result["kept"]}
    assert {p for p in buffers if index.canonical_tensor(p) == p} <= kept


def tie_pair(tree: ps.Node) -> tuple[str, str] | None:
    """Two untied trainable parameters of one shape (two convolutions, two projections)."""
    seen: dict[tuple[Any, ...], str] = {}
    for node in tree.walk():
        if node.kind != "param" or node.tied_to or node.aliases or not node.shape or len(node.shape) < 2:
            continue
        key = (tuple(node.shape), node.dtype)
        if key in seen:
            return seen[key], node.path
        seen[key] = node.path
    return None


def state(framework: str, net: Any) -> Any:
    return require(framework).state(net)


@pytest.mark.parametrize(("framework", "name"), MODELS)
def test_model_library_model(framework, name, monkeypatch):
    # ViT-B/16 is 330 MiB of parameters: two whole-model reinits must stay undoable for the undo check.
    monkeypatch.setattr(actions, "HISTORY_LIMIT_BYTES", 4 * 2**30)
    spec = zoo(framework, name)
    net = spec.build()
    assert np.isfinite(spec.forward(net)).all()
    tree = ps.inspect(net)
    check_counts(framework, net, tree)
    check_code(framework, net, tree)
    check_stats_and_values(framework, net)
    first = next(n.path for n in tree.walk() if n.kind == "param")  # the first convolution or embedding
    for op in ("stats", "values"):
        reply = protocol.handle({"id": 1, "op": op, "model": "net", "path": first}, models={"net": net})
        assert reply["ok"] and reply["result"]["available"], reply

    # Undo is bit-identical after a sequence of every kind of action.
    before = state(framework, net)
    done = 0
    for init in ("default", "xavier_uniform"):
        ps.reinit(net, "", init, seed=3)
        done += 1
    param = next(n for n in tree.walk() if n.kind == "param" and n.tied_to is None and not n.aliases)
    ps.set_value(net, param.path, 0.5, mode="add")
    done += 1
    pair = tie_pair(tree)
    if pair is not None:
        ps.tie(net, *pair)
        ps.untie(net, pair[0])
        done += 2
    for _ in range(done):
        ps.undo(net)
    assert state(framework, net) == before

    blocks = blocks_with_params(tree)
    reinit_every_block(net, blocks, "default")
    assert np.isfinite(spec.forward(net)).all()
    check_running_statistics_kept(framework, net)
    reinit_every_block(net, blocks, "normal", std=0.02)
    assert np.isfinite(spec.forward(net)).all()


def test_gpt2_tied_embedding_is_detected_and_counted_once():
    spec = zoo("pytorch", "gpt2")
    net = spec.build()
    tree = ps.inspect(net)
    head = tree.find("lm_head.weight")
    assert head is not None and head.tied_to == "transformer.wte.weight"
    assert tree.n_params == sum(p.numel() for p in net.parameters())
    assert tree.n_params_with_aliases == tree.n_params + head.numel
    ps.reinit(net, "transformer.wte.weight", "normal", std=0.02, seed=0)
    assert net.lm_head.weight is net.transformer.wte.weight
    assert np.isfinite(spec.forward(net)).all()


def test_keras_batchnorm_catalogue_reinit_keeps_moving_variance_valid():
    """The reported case: MobileNetV2's bn_Conv1 under 'normal' drew its moving variance (min -0.0187)."""
    spec = zoo("keras", "MobileNetV2")
    net = spec.build()
    bn = net.get_layer("bn_Conv1")
    var = np.array(bn.moving_variance.numpy(), copy=True)
    result = ps.reinit(net, "bn_Conv1", "normal")
    np.testing.assert_array_equal(bn.moving_variance.numpy(), var)
    assert {k["path"] for k in result["kept"]} == {bn.moving_mean.path, bn.moving_variance.path}
    assert np.isfinite(spec.forward(net)).all()


def test_depthwise_kernels_of_mobilenet_get_their_layers_own_default():
    """MobileNetV2 reinit('', 'default') skipped 17 DepthwiseConv2D kernels ("has no kernel_initializer")."""
    import keras

    spec = zoo("keras", "MobileNetV2")
    net = spec.build()
    depthwise = [layer for layer in net.layers if isinstance(layer, keras.layers.DepthwiseConv2D)]
    assert len(depthwise) == 17
    result = ps.reinit(net, "", "default")
    assert result["skipped"] == []
    assert all(layer.kernel.path in result["changed"] for layer in depthwise)
