"""Shared building blocks for the hidden probes of the graded notebooks (the in-kernel half of grading).

A hidden probe (:mod:`course_utils.grading.probe`) calls the learner's code on test inputs
and records what it returns; its ``[judge]`` block decides outside the kernel. Many probes
need the same preparation: build the learner's module after a fixed seed, find its
``nn.Linear`` layers, give them designed weights, make a deterministic input. Those steps
live here once instead of in a copy per test cell.

These are plain functions that run in the learner's kernel. They compute no expected value
and decide nothing: a malformed learner module makes them raise (``ValueError`` with a
message for the learner), so call them through ``Probe.record`` / ``Probe.call`` /
``Probe.run``, which record the error for the judge instead of stopping the probe::

    _m = _h.build(TimestepEmbedding, 256, 512, seed=0)     # the module, or its constructor's error
    _o.call("linears", _h.linear_layout, _m)              # ["Linear(256, 512)", ...]
    _o.record("designed", lambda: _h.set_linears(_m, "TimestepEmbedding", (_w1, _b1), (_w2, _b2)))
    _o.call("out", _m, _torch.tensor([0, 999]))
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Sequence

import torch
from torch import nn

__all__ = [
    "Broken",
    "build",
    "linear_layout",
    "count_parameters",
    "find_linears",
    "set_linears",
    "grid",
    "wave_features",
]


class Broken:
    """Stands in for a module whose constructor raised: calling it, or passing it to a helper, re-raises."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    def __repr__(self) -> str:
        return f"Broken({type(self.error).__name__})"


def build(cls: Callable[..., Any], *args: Any, seed: int | None = None, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)`` after ``torch.manual_seed(seed)`` (when given).

    Never raises: a constructor that raises gives a :class:`Broken` holding its error, which
    the first helper or call that uses it raises again, where the probe records it.
    """
    if seed is not None:
        torch.manual_seed(seed)
    try:
        return cls(*args, **kwargs)
    except Exception as exc:  # the learner's constructor: recorded when the module is used
        return Broken(exc)


def _module(module: Any) -> nn.Module:
    if isinstance(module, Broken):
        raise module.error
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got a {type(module).__name__}")
    return module


def _linears(module: nn.Module) -> list[nn.Linear]:
    """The module's layers of type exactly ``nn.Linear``, in registration order."""
    return [m for m in _module(module).modules() if type(m) is nn.Linear]


def linear_layout(module: Any) -> list[str]:
    """One name per exact ``nn.Linear`` of the module, in order: ``"Linear(5, 12)"``, or
    ``"Linear(5, 12, bias=False)"`` for a layer without a bias."""
    return [
        f"Linear({int(m.in_features)}, {int(m.out_features)}" + (")" if m.bias is not None else ", bias=False)")
        for m in _linears(module)
    ]


def count_parameters(module: Any) -> int:
    """The number of distinct parameter values the module holds."""
    return sum(p.numel() for p in _module(module).parameters())


def _linear_names(sizes: Sequence[tuple[int, int]]) -> str:
    names = [f"Linear({i}, {o})" for i, o in sizes]
    return "one " + names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def find_linears(module: Any, sizes: Sequence[tuple[int, int]], owner: str) -> list[nn.Linear]:
    """The module's ``nn.Linear`` layers, one per ``(in_features, out_features)`` in ``sizes``, in that order.

    Raises ValueError unless the module holds exactly those layers (no others), each with a bias.
    """
    layers = _linears(module)
    found = sorted((m.in_features, m.out_features) for m in layers)
    if len(layers) != len(sizes) or found != sorted(tuple(s) for s in sizes):
        raise ValueError(f"expected exactly {_linear_names(sizes)} inside {owner}")
    if any(m.bias is None for m in layers):
        what = "the Linear layer needs" if len(layers) == 1 else "every Linear layer needs"
        raise ValueError(f"{what} a bias")
    out, left = [], list(layers)
    for d_in, d_out in sizes:
        layer = next(m for m in left if (m.in_features, m.out_features) == (d_in, d_out))
        left.remove(layer)
        out.append(layer)
    return out


def set_linears(module: Any, owner: str, *designs: tuple[torch.Tensor, torch.Tensor]) -> None:
    """Give the module's Linear layers designed weights: one ``(weight [out, in], bias [out])`` per layer.

    The layers are found by their sizes (:func:`find_linears`); raises ValueError when they are not there.
    """
    sizes = [(int(w.shape[1]), int(w.shape[0])) for w, _ in designs]
    layers = find_linears(module, sizes, owner)
    with torch.no_grad():
        for layer, (weight, bias) in zip(layers, designs):
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)


def grid(shape: Sequence[int], value: Callable[..., float]) -> torch.Tensor:
    """A float32 tensor of ``shape`` whose entry at index ``(a, b, ...)`` is ``value(a, b, ...)``.

    Each entry is computed in Python (double precision), then rounded once to float32, so a
    judgement can compute the same inputs.
    """
    shape = tuple(int(s) for s in shape)
    flat = [float(value(*idx)) for idx in itertools.product(*(range(s) for s in shape))]
    return torch.tensor(flat, dtype=torch.float32).reshape(shape)


def wave_features(batch: int, channels: int, height: int, width: int, scale: float = 1.0) -> torch.Tensor:
    """Feature maps [B, C, H, W] whose channels differ in mean, spread and phase (times ``scale``).

    Every group of channels has a different mean and variance, so normalising over the wrong
    axes, with the wrong number of groups or the wrong eps gives different numbers.
    """

    def value(b: int, c: int, i: int, j: int) -> float:
        return scale * ((0.5 + 0.3 * c) * math.sin(0.9 * b + 1.7 * c + 0.8 * i + 0.55 * j) + 0.25 * c - 0.4 * b)

    return grid((batch, channels, height, width), value)


# --- used by the probes of lessons 04 and 05 -----------------------------------------------------

__all__ += [
    "attempt",
    "unwrap",
    "type_name",
    "attribute_types",
    "parameter",
    "parameter_layout",
    "set_parameters",
    "with_attribute",
    "Spy",
    "grad_sums",
    "gradient_sums",
    "value_summary",
    "modules_of_type",
    "find_block",
    "capture_inputs",
    "designed_state_dict",
]


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, or a :class:`Broken` holding its error (raised again where it is used).

    For intermediate results a probe needs but cannot record (a layer, a list of captured tensors).
    """
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # the learner's code: recorded where the result is used
        return Broken(exc)


def unwrap(value: Any) -> Any:
    """``value`` itself; a :class:`Broken` raises its error again (inside a probe's record: recorded)."""
    if isinstance(value, Broken):
        raise value.error
    return value


def type_name(value: Any) -> str:
    """The full name of ``value``'s exact type, e.g. ``torch.nn.modules.linear.Linear``."""
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def attribute_types(obj: Any, names: Sequence[str]) -> list[str]:
    """:func:`type_name` of each named attribute of ``obj`` (a missing one raises AttributeError)."""
    obj = unwrap(obj)
    return [type_name(getattr(obj, name)) for name in names]


def parameter(module: Any, path: str) -> torch.Tensor:
    """The tensor at a dotted attribute path of a module, e.g. ``"layer1.weight"``."""
    obj: Any = _module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, torch.Tensor):
        raise TypeError(f"{path} is a {type(obj).__name__}, not a tensor")
    return obj


def parameter_layout(module: Any, paths: Sequence[str]) -> list[str]:
    """``"<exact type name> <shape>"`` of each parameter, e.g. ``"Parameter (4, 2)"``."""
    out = []
    for path in paths:
        p = parameter(module, path)
        out.append(f"{type(p).__qualname__} {tuple(int(s) for s in p.shape)}")
    return out


def set_parameters(module: Any, values: dict[str, torch.Tensor]) -> int:
    """Copy designed values into the tensors at these dotted paths; returns how many numbers were set.

    Raises ValueError, before changing anything, when a tensor's shape differs from its designed value's.
    """
    targets = [(path, parameter(module, path), torch.as_tensor(v)) for path, v in values.items()]
    for path, p, v in targets:
        if tuple(p.shape) != tuple(v.shape):
            raise ValueError(f"{path} has shape {tuple(p.shape)}, which the designed values do not fit")
    with torch.no_grad():
        for _, p, v in targets:
            p.copy_(v)
    return sum(v.numel() for _, _, v in targets)


def with_attribute(obj: Any, name: str, value: Any, fn: Callable[[], Any]) -> Any:
    """``fn()`` while ``obj.name`` is ``value`` (set on the instance); the instance's own value is restored after."""
    obj = unwrap(obj)
    own = vars(obj)
    had, old = name in own, own.get(name)
    setattr(obj, name, value)
    try:
        return fn()
    finally:
        if had:
            setattr(obj, name, old)
        else:
            delattr(obj, name)


class Spy:
    """A stand-in model that remembers the arguments of every call.

    It returns ``fn(*args)``, or ``torch.zeros_like(args[0])`` when no ``fn`` is given.
    """

    def __init__(self, fn: Callable[..., Any] | None = None) -> None:
        self.fn = fn
        self.calls: list[tuple] = []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        return self.fn(*args) if self.fn is not None else torch.zeros_like(args[0])


def grad_sums(tensors: Sequence[torch.Tensor]) -> list[float]:
    """The sum of ``|grad|`` of each tensor, or -1.0 for one that received no gradient (``grad is None``)."""
    return [-1.0 if t.grad is None else float(t.grad.detach().abs().sum()) for t in tensors]


def gradient_sums(loss: Callable[[], torch.Tensor], tensors: Sequence[torch.Tensor]) -> list[float]:
    """``loss().backward()``, then :func:`grad_sums` of ``tensors``."""
    loss().backward()
    return grad_sums(tensors)


def value_summary(x: torch.Tensor) -> list[float]:
    """``[min, max, mean, variance (population), number of distinct values]`` of all entries, in float64."""
    v = unwrap(x).detach().reshape(-1).double()  # (any shape) -> (numel,)
    return [
        float(v.min()),
        float(v.max()),
        float(v.mean()),
        float(v.var(unbiased=False)),
        float(torch.unique(v).numel()),
    ]


def modules_of_type(module: Any, cls: type, **attrs: Any) -> list[nn.Module]:
    """The module's submodules (itself included) of exactly type ``cls`` whose attributes equal ``attrs``."""
    return [
        m
        for m in _module(module).modules()
        if type(m) is cls and all(getattr(m, k, None) == v for k, v in attrs.items())
    ]


def find_block(module: Any, sizes: Sequence[tuple[int, int]]) -> tuple[nn.Module, list[nn.Linear]] | None:
    """The first proper submodule holding exactly one exact ``nn.Linear`` of each ``(in, out)`` size.

    Returns that submodule and those layers (in the order of ``sizes``), or None when no submodule has them.
    """
    root = _module(module)
    for _, sub in root.named_modules():
        if sub is root:
            continue
        found = [[m for m in _linears(sub) if (m.in_features, m.out_features) == tuple(s)] for s in sizes]
        if all(len(f) == 1 for f in found):
            return sub, [f[0] for f in found]
    return None


def capture_inputs(module: Any, fn: Callable[[], Any]) -> list[torch.Tensor]:
    """Run ``fn()``; a detached copy of the first input of every call of ``module`` meanwhile."""
    module = _module(module)
    seen: list[torch.Tensor] = []
    hook = module.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    try:
        fn()
    finally:
        hook.remove()
    return seen


def designed_state_dict(module: Any, seed: int) -> dict[str, torch.Tensor]:
    """Fixed values for every entry of the module's state dict, drawn in sorted key order from one generator.

    Matrices and kernels: uniform in +-sqrt(6 / fan_in); ``running_var``: uniform in [0.5, 1.5]; other
    vectors named ``weight``: 1 +- 0.1; other float vectors: +-0.1; integer entries are kept.
    """
    state = _module(module).state_dict()
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(state):
        v = state[key]
        if not v.is_floating_point():
            out[key] = v.clone()
        elif key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(v.shape, generator=gen)
        elif v.dim() >= 2:
            out[key] = (torch.rand(v.shape, generator=gen) * 2 - 1) * math.sqrt(6.0 / v[0].numel())
        elif key.endswith("weight"):
            out[key] = 1.0 + (torch.rand(v.shape, generator=gen) * 2 - 1) * 0.1
        else:
            out[key] = (torch.rand(v.shape, generator=gen) * 2 - 1) * 0.1
    return out


def vp_alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``alpha(t)`` and ``sigma(t)`` of the VP SDE with beta in [0.1, 20], written out here.

    Independent of ``course_utils.diffusion.vpsde`` (which a learner's code may use), in ``t``'s dtype.
    """
    log_alpha = -0.25 * t * t * 19.9 - 0.05 * t
    return torch.exp(log_alpha), torch.sqrt(-torch.expm1(2.0 * log_alpha))


__all__ += ["vp_alpha_sigma"]
