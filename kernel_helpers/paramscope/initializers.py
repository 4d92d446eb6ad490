"""The initializer catalogue: names and arguments shared by every framework, and custom initializers."""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from ._errors import ActionError
from .adapters import Adapter, InitSpec
from .tree import TensorEntry

# name -> ordered (argument, default). Every adapter maps each name to its framework's own initializer.
CATALOGUE: dict[str, tuple[tuple[str, float], ...]] = {
    "default": (),  # the layer's own initializer (torch reset_parameters, Keras *_initializer, MXNet init)
    "zeros": (),
    "ones": (),
    "constant": (("value", 0.0),),
    "normal": (("mean", 0.0), ("std", 0.01)),
    "uniform": (("low", -0.05), ("high", 0.05)),
    "xavier_uniform": (("gain", 1.0),),
    "xavier_normal": (("gain", 1.0),),
    "kaiming_uniform": (("a", 0.0),),
    "kaiming_normal": (("a", 0.0),),
    "orthogonal": (("gain", 1.0),),
}

# Initializers that only make sense for tensors of rank >= 2 (they need fan-in and fan-out).
NEEDS_MATRIX = frozenset({"xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"})

# What a catalogue initializer on a block does to biases: set them to zero, keep them, or draw them too.
BIAS_MODES = ("zeros", "keep", "same")
# Parameter names the bias choice applies to: layers' biases and normalization layers' shifts (Keras/MXNet beta).
BIAS_NAMES = frozenset({"bias", "beta"})
# Top-level packages of each framework family: an object from another family is never its initializer.
_FAMILIES = {"pytorch": {"torch"}, "keras": {"keras", "tensorflow", "tf_keras", "jax"}, "mxnet": {"mxnet"}}


def default_bias(name: str) -> str:
    """The chapter's choice on a block: init_normal and init_constant zero the biases; init_xavier (and every
    initializer that needs a matrix) writes weights only. bias="keep" is init_42's way."""
    return "keep" if name in NEEDS_MATRIX else "zeros"


def describe_catalogue() -> list[dict[str, Any]]:
    """The catalogue as the front ends show it (`bias`: what it does to biases on a block, unless told)."""
    return [
        {"name": name, "args": [{"name": a, "default": d} for a, d in args], "needs_matrix": name in NEEDS_MATRIX,
         "bias": None if name == "default" else default_bias(name)}
        for name, args in CATALOGUE.items()
    ]


def bias_mode(spec: InitSpec, bias: str | None, on_block: bool) -> str | None:
    """The bias choice for this reinit, or None where it does not apply (one tensor, default, custom)."""
    applies = on_block and spec.custom is None and spec.name != "default"
    if bias is None:
        return default_bias(spec.name) if applies else None
    if bias not in BIAS_MODES:
        raise ActionError(f"bias must be one of {', '.join(repr(m) for m in BIAS_MODES)}, got {bias!r}")
    if not applies:
        where = "a single parameter" if not on_block else f"{spec.name!r}, which decides biases itself"
        raise ActionError(f"bias= applies to catalogue initializers on a block, not to {where}")
    return bias


def is_biases(entry: TensorEntry) -> bool:
    """Whether `bias=` governs this parameter: a 1-D parameter named bias or beta."""
    shape = entry.meta.shape
    return entry.name in BIAS_NAMES and shape is not None and len(shape) == 1


# Packages whose functions are never initializers: IPython's `open` wrapper and the like, numpy's one-argument
# functions; the standard library (sys.stdlib_module_names) is added below.
_NEVER = frozenset({"IPython", "ipykernel", "ipywidgets", "jupyter_client", "traitlets", "anywidget", "paramscope",
                    "numpy", "pandas", "matplotlib", "scipy", "_sitebuiltins", "builtins"})


def foreign(obj: Any, framework: str) -> bool:
    """Whether `obj` (a function, class or instance) comes from another framework's package than `framework`,
    or from a package that has no initializers (the standard library, IPython, numpy)."""
    own = _FAMILIES.get(framework, set())
    others = (set().union(*_FAMILIES.values()) - own) | _NEVER | set(sys.stdlib_module_names)
    plain = isinstance(obj, type) or inspect.isroutine(obj) or isinstance(obj, functools.partial)
    module = getattr(obj.func if isinstance(obj, functools.partial) else obj, "__module__", None) if plain \
        else type(obj).__module__  # an instance: where its class comes from
    return isinstance(module, str) and module.split(".", 1)[0] in others


@contextlib.contextmanager
def exit_guard(name: str) -> Iterator[None]:
    """Run a custom initializer so that exit() inside it cannot end or wedge the kernel.

    In a notebook `exit` is IPython's autocall: `exit(m)` sets `keep_kernel=m` and queues an "ask_exit" payload,
    which rides on the reply to the *next* cell; that reply then fails to serialize ("Can't clean for JSON:
    Linear(...)") and the cell stays at [*]. Plain `exit()` would shut the kernel down after the cell. The shell's
    exit state and payloads are put back and the call becomes an error (the action then changes nothing)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    manager = getattr(shell, "payload_manager", None)
    if shell is None or manager is None:
        yield
        return
    saved = (getattr(shell, "exit_now", False), getattr(shell, "keepkernel_on_exit", None),
             list(manager.read_payload()))
    try:
        yield
    finally:
        changed = getattr(shell, "exit_now", False) != saved[0] or list(manager.read_payload()) != saved[2]
        if changed:
            shell.exit_now, shell.keepkernel_on_exit = saved[0], saved[1]
            manager.clear_payload()
            for payload in saved[2]:
                manager.write_payload(payload, single=False)
            raise ActionError(f"{name} called exit(); the kernel keeps running")


def no_required_args(cls: type) -> bool:
    """Whether `cls()` can be called without arguments (an initializer class the list can offer)."""
    try:
        inspect.signature(cls).bind()
    except (TypeError, ValueError):
        return False
    return True


def resolve(init: Any, args: Mapping[str, Any], adapter: Adapter, namespace: Mapping[str, Any] | None) -> InitSpec:
    """Turn `init` (catalogue name, "name(arg, ...)" text, callable, initializer object, or the name of one in
    `namespace`) and keyword `args` into an InitSpec, checking names and argument types."""
    if isinstance(init, str):
        name, parsed = _parse_call(init)
        if name in CATALOGUE:
            return InitSpec(name, _bind(name, parsed, dict(args)))
        if namespace is not None and name in namespace and not parsed[0] and not parsed[1]:
            return _custom(namespace[name], name, args, adapter)
        custom = ", ".join(custom_initializers(namespace or {}, adapter)) or "none found"
        raise ActionError(
            f"unknown initializer {init!r}: use one of {', '.join(CATALOGUE)} "
            f"or a custom initializer defined in the notebook ({custom})"
        )
    return _custom(init, getattr(init, "__name__", type(init).__name__), args, adapter)


def _custom(obj: Any, name: str, args: Mapping[str, Any], adapter: Adapter) -> InitSpec:
    if args:
        raise ActionError(f"custom initializer {name!r} takes no extra arguments; got {', '.join(args)}")
    if not adapter.is_initializer(obj):
        raise ActionError(
            f"{name!r} is a {type(obj).__name__}, not an initializer for {adapter.framework}: pass a function "
            "or the framework's initializer object"
        )
    if isinstance(obj, type):  # an initializer class (the chapter's MyInit): its instance, as Keras/Gluon take it
        if not no_required_args(obj):
            raise ActionError(f"{name} needs arguments to be made: pass an instance, e.g. {name}(...)")
        obj = obj()
    return InitSpec(name, {}, custom=obj)


def custom_initializers(namespace: Mapping[str, Any], adapter: Adapter) -> list[str]:
    """Names in `namespace` that look like custom initializers for this adapter's framework."""
    out = []
    for name, obj in list(namespace.items()):
        if name.startswith("_"):
            continue
        try:
            if adapter.is_initializer(obj) and (not isinstance(obj, type) or no_required_args(obj)):
                out.append(name)
        except Exception:  # noqa: BLE001 - a user object whose attribute access raises is just not one
            continue
    return out


def _parse_call(text: str) -> tuple[str, tuple[list[Any], dict[str, Any]]]:
    """"normal(0, 0.02)" -> ("normal", ([0, 0.02], {})); literals only, nothing is evaluated."""
    text = text.strip()
    if "(" not in text:
        return text, ([], {})
    try:
        call = ast.parse(text, mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise ValueError
        pos = [ast.literal_eval(a) for a in call.args]
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
    except (SyntaxError, ValueError) as e:
        raise ActionError(
            f"cannot read initializer {text!r}: write it as name(number, ...), e.g. normal(0, 0.01)"
        ) from e
    return call.func.id, (pos, kw)


def _bind(name: str, parsed: tuple[list[Any], dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
    spec = CATALOGUE[name]
    names = [a for a, _ in spec]
    pos, kw = parsed
    if len(pos) > len(names):
        raise ActionError(f"{name} takes {len(names)} argument(s) ({', '.join(names) or 'none'}), got {len(pos)}")
    bound: dict[str, Any] = dict(zip(names, pos, strict=False))
    for key, value in {**kw, **args}.items():
        if key not in names:
            raise ActionError(f"{name} has no argument {key!r}; it takes: {', '.join(names) or 'no arguments'}")
        bound[key] = value
    out = {}
    for arg, default in spec:
        value = bound.get(arg, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ActionError(f"{name}: {arg} must be a number, got {value!r}")
        out[arg] = float(value)
    if name == "uniform" and out["low"] > out["high"]:
        raise ActionError(f"uniform: low ({out['low']}) must not exceed high ({out['high']})")
    if name == "normal" and out["std"] < 0:
        raise ActionError(f"normal: std must be >= 0, got {out['std']}")
    return out
