"""N-gram stage of the MiniLM embedding-distance module: sasc vs the reference route.

Reference route (imodelsX ``explain_ngrams`` as the SASC paper ran it): spaCy tokenization,
all unique 1..3-grams joined by spaces, then ``SentenceTransformer.encode`` in chunks of 32.
sasc route: ``count_ngrams`` + ``ngram_responses`` (de-duplicated by token ids, length-sorted,
padding-free batches).

Prints: both wall times and their ratio, n-grams/s, top-75 agreement, the roofline figure
(useful FLOP/s over torch's fp32 matmul FLOP/s measured in the same run), and, with
``--memory``, the peak RSS of the stage on a corpus of >= 1M unique n-grams (in a child
process so the peak is the stage's own).

    python benchmarks/ngram_stage.py --data ../shared/d3 --words 200000
    python benchmarks/ngram_stage.py --memory --memory-ngrams 1000000 --skip-reference
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

KEYPHRASE = "contains irony"


def d3_corpus(data: Path, words: int) -> list[str]:
    """Rows of ../shared/d3/corpora/*.csv (input column), in file order, until >= ``words``."""
    texts, n = [], 0
    for path in sorted((data / "corpora").glob("d3_*.csv"), key=lambda p: int(p.stem.split("_")[1])):
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                texts.append(row["input"])
                n += len(row["input"].split())
                if n >= words:
                    return texts
    return texts


def matmul_gflops(repeats: int = 5, dtype: str = "float32") -> float:
    """Best GEMM rate of torch on shapes like the encoder's FFN, in GFLOP/s."""
    import torch

    dt = getattr(torch, dtype)
    a, b = torch.randn(8192, 384, dtype=dt), torch.randn(384, 1536, dtype=dt)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 2 * 8192 * 384 * 1536 * 10 / (time.perf_counter() - t) / 1e9)
    return best


def encoder_flops_per_token(st) -> float:
    """2 × encoder weight parameters (no embeddings, no pooler): FLOPs per real token."""
    enc = st[0].auto_model.encoder
    return 2.0 * sum(p.numel() for n, p in enc.named_parameters() if n.endswith("weight"))


def top_casefolded(ngrams: list[str], scores: np.ndarray, k: int = 75) -> list[str]:
    """The k best distinct n-grams after lowercasing (the module is uncased, so "Irony" and
    "irony" score the same and would otherwise take two places)."""
    out: list[str] = []
    for i in np.argsort(-scores, kind="stable"):
        g = ngrams[i].lower()
        if g not in out:
            out.append(g)
            if len(out) == k:
                break
    return out


def run_sasc(texts: list[str] | None, ngrams: list[str] | None = None, dtype: str = "auto") -> dict:
    """sasc's stage on the corpus (own tokenization) or on a given n-gram list."""
    from sasc.modules.embedding import EmbeddingDistanceBank
    from sasc.ngrams import NgramTable, count_ngrams
    from sasc.responses import ngram_responses

    bank = EmbeddingDistanceBank(KEYPHRASE, dtype=dtype)
    t0 = time.perf_counter()
    table = count_ngrams(texts) if ngrams is None else NgramTable.from_ngrams(ngrams)
    res = ngram_responses(bank, table)
    secs = time.perf_counter() - t0
    uniq = {tuple(k) for k in bank.dedupe_keys(table.ngrams)}
    tokens = sum(len(k) for k in uniq)
    return {"seconds": secs, "n_ngrams": len(table), "n_evaluated": res.n_evaluated, "real_tokens": tokens,
            "padded_tokens": tokens, "top75": top_casefolded(table.ngrams, res.values[:, 0]),
            "dtype": bank.encoder.dtype,
            "flops_per_token": encoder_flops_per_token(bank.encoder.st)}


def run_reference(texts: list[str]) -> dict:
    import spacy
    from sentence_transformers import SentenceTransformer

    from sasc.modules.embedding import default_encoder_path

    st = SentenceTransformer(default_encoder_path(), device="cpu")
    target = st.encode([KEYPHRASE])[0]
    t0 = time.perf_counter()
    tok = spacy.blank("en").tokenizer
    grams = set()
    for text in texts:
        words = [str(x) for x in tok(text)]
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                grams.add(" ".join(words[i:i + n]))
    ngrams = sorted(grams)
    scores = np.empty(len(ngrams), dtype=np.float32)
    real = padded = 0
    for s in range(0, len(ngrams), 32):
        chunk = ngrams[s:s + 32]
        emb = st.encode(chunk, batch_size=32)
        scores[s:s + 32] = -np.linalg.norm(emb - target, axis=1)
        lens = [len(x) for x in st.tokenizer(chunk, truncation=True, max_length=st.max_seq_length)["input_ids"]]
        real += sum(lens)
        padded += max(lens) * len(lens)
    secs = time.perf_counter() - t0
    return {"seconds": secs, "n_ngrams": len(ngrams), "real_tokens": real, "padded_tokens": padded,
            "top75": top_casefolded(ngrams, scores), "flops_per_token": encoder_flops_per_token(st), "ngrams": ngrams}


def memory_child(n_min: int, dtype: str = "auto") -> None:
    """Run the stage on the first news articles that give >= n_min unique n-grams; print JSON."""
    from sasc.corpora import load_corpus
    from sasc.modules.embedding import EmbeddingDistanceBank
    from sasc.ngrams import count_ngrams
    from sasc.responses import ngram_responses

    articles = load_corpus("news").texts
    lo, hi = 1, len(articles)
    while lo < hi:  # fewest articles reaching n_min n-grams (counting is cheap)
        mid = (lo + hi) // 2
        if len(count_ngrams(articles[:mid])) >= n_min:
            hi = mid
        else:
            lo = mid + 1
    bank = EmbeddingDistanceBank(KEYPHRASE, dtype=dtype)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    table = count_ngrams(articles[:lo])
    ngram_responses(bank, table)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"articles": lo, "n_ngrams": len(table), "seconds": time.perf_counter() - t,
                      "peak_rss_mib": peak, "rss_before_stage_mib": base}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/d3", help="D3 data folder (corpora/*.csv)")
    ap.add_argument("--words", type=int, default=200_000, help="corpus size in words (default 200000)")
    ap.add_argument("--skip-reference", action="store_true", help="only the sasc route")
    ap.add_argument("--memory", action="store_true", help="also measure peak RSS on >= --memory-ngrams n-grams")
    ap.add_argument("--memory-ngrams", type=int, default=1_000_000)
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--dtype", default="auto", help="sasc encoder dtype: auto (bf16 where native), float32, bfloat16")
    ap.add_argument("--_memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._memory_child:
        return memory_child(args._memory_child, args.dtype)
    texts = d3_corpus(Path(args.data), args.words)
    n_words = sum(len(t.split()) for t in texts)
    print(f"corpus: {len(texts)} D3 rows, {n_words:,} words")
    peak0 = matmul_gflops()
    ours = run_sasc(texts, dtype=args.dtype)
    ref = None if args.skip_reference else run_reference(texts)
    same = None if ref is None else run_sasc(None, ref.pop("ngrams"), dtype=args.dtype)
    peak = max(peak0, matmul_gflops())
    peak_bf16 = matmul_gflops(dtype="bfloat16")
    print(f"torch matmul peak: fp32 {peak:.1f} GFLOP/s, bf16 {peak_bf16:.1f} GFLOP/s; sasc ran in {ours['dtype']}")
    out = {"words": n_words, "matmul_gflops": peak, "sasc": ours, "reference": ref, "sasc_on_reference_ngrams": same}
    for name, r in [("sasc", ours), ("reference", ref), ("sasc on reference n-grams", same)]:
        if r is None:
            continue
        useful = r["real_tokens"] * r["flops_per_token"] / r["seconds"] / 1e9
        r["useful_gflops"], r["roofline"] = useful, useful / peak
        print(f"{name:25s}: {r['n_ngrams']:,} n-grams in {r['seconds']:.1f} s = {r['n_ngrams'] / r['seconds']:,.0f} n-grams/s;"
              f" padding inflation {r['padded_tokens'] / r['real_tokens']:.2f}x;"
              f" useful {useful:.1f} GFLOP/s = {100 * useful / peak:.0f}% of fp32 matmul"
              + (f" ({100 * useful / peak_bf16:.0f}% of bf16 matmul)" if r.get("dtype") == "bfloat16" else ""))
    if ref is not None:
        b = {g.lower() for g in ref["top75"]}
        s = {g.lower() for g in same["top75"]}
        print(f"SAME n-grams (the reference's spaCy list): speed-up {ref['seconds'] / same['seconds']:.2f}x "
              f"(reference {ref['seconds']:.1f} s / sasc {same['seconds']:.1f} s); top-75 identical up to case: "
              f"{len(s & b)}/75")
        a = {g.lower() for g in ours["top75"]}
        print(f"each route end to end with its own tokenization: speed-up {ref['seconds'] / ours['seconds']:.2f}x; "
              f"top-75 overlap {len(a & b)}/75 (the reference's spaCy tokens keep punctuation such as '#', "
              f"which sasc's tokenizer drops)")
        out["speedup_same_ngrams"] = ref["seconds"] / same["seconds"]
        out["top75_same_ngrams"] = len(s & b)
    if args.memory:
        child = subprocess.run([sys.executable, __file__, "--_memory-child", str(args.memory_ngrams),
                                "--dtype", args.dtype],
                               capture_output=True, text=True, check=True)
        mem = json.loads(child.stdout.strip().splitlines()[-1])
        out["memory"] = mem
        print(f"memory: {mem['n_ngrams']:,} unique n-grams ({mem['articles']} news articles) scored in "
              f"{mem['seconds']:.0f} s; peak RSS {mem['peak_rss_mib']:.0f} MiB (process before the stage: "
              f"{mem['rss_before_stage_mib']:.0f} MiB)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
