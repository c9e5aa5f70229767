"""Readable winners of two `sasc explain` results of the same units: σ alone vs the form options on.

    sasc explain -m MODULE --form-repair false --readable-ranking false -o base.json
    sasc explain -m MODULE -o new.json            # the defaults, from base's reply cache
    python benchmarks/readable_units.py base.json new.json [--no-fluency] [--json out.json]

Judges every unit's winner in both results with the form check (rules and the SmolLM2 fluency, as
``sasc benchmark compare --fluency`` does), and prints per unit the two winners with their σ and
flags, the repairs made and whether the readable ranking moved the winner; then the share of
readable winners in each result and the mean σ of the winners. Issue 34 asks for this on SmolLM2
neurons and fMRI voxels, which have no keyphrase to judge accuracy against.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sasc.form import check_forms, fluency_scorer  # noqa: E402
from sasc.results import ExplainResult  # noqa: E402


def winners(result: ExplainResult) -> dict[str, tuple[str, float]]:
    """``{unit: (winner, σ)}``; the winner is '' for a unit with no scored candidate."""
    out = {}
    for u in result.units:
        best = u.candidates[0] if u.candidates else None
        out[u.unit] = (best.explanation, float(best.score.sigma)) if best else ("", float("nan"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", help="explain result with the form options off")
    ap.add_argument("new", help="explain result of the same units with them on")
    ap.add_argument("--no-fluency", action="store_true", help="the form rules only, no SmolLM2 fluency")
    ap.add_argument("--json", default=None, help="also write the table here")
    args = ap.parse_args()
    base = ExplainResult.from_json(Path(args.base).read_text(encoding="utf-8"))
    new = ExplainResult.from_json(Path(args.new).read_text(encoding="utf-8"))
    a, b = winners(base), winners(new)
    units = [u for u in a if u in b]
    if not units:
        sys.exit("the two results share no unit")
    fluency = None if args.no_fluency else fluency_scorer("smollm2")
    texts = [a[u][0] for u in units] + [b[u][0] for u in units]
    forms = check_forms(texts, fluency)
    fa, fb = forms[: len(units)], forms[len(units):]
    extra = {u.unit: u for u in new.units}
    rows = []
    for i, u in enumerate(units):
        x = extra[u]
        rows.append({"unit": u, "base": a[u][0], "base_sigma": a[u][1], "base_flags": list(fa[i].flags),
                     "new": b[u][0], "new_sigma": b[u][1], "new_flags": list(fb[i].flags),
                     "repairs": [[r.before, r.after] for r in x.repairs], "reranked_from": x.reranked_from})
        mark = lambda f: "ok" if not f else ",".join(f)  # noqa: E731
        print(f"{u}: {a[u][0]!r} {a[u][1]:.2f}σ [{mark(fa[i].flags)}] -> {b[u][0]!r} {b[u][1]:.2f}σ "
              f"[{mark(fb[i].flags)}]" + (f"  (moved from {x.reranked_from!r})" if x.reranked_from else "")
              + (f"  repairs: {len(x.repairs)}" if x.repairs else ""))
    ra = sum(bool(a[u][0]) and f.passes for u, f in zip(units, fa))
    rb = sum(bool(b[u][0]) and f.passes for u, f in zip(units, fb))
    changed = sum(a[u][0] != b[u][0] for u in units)
    sa = np.nanmean([a[u][1] for u in units])
    sb = np.nanmean([b[u][1] for u in units])
    print(f"\n{len(units)} units: readable winners {ra}/{len(units)} -> {rb}/{len(units)}; winners changed: "
          f"{changed}; mean winner σ {sa:.2f} -> {sb:.2f}; repairs {sum(len(r['repairs']) for r in rows)}, "
          f"moved by the readable ranking {sum(bool(r['reranked_from']) for r in rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"units": rows, "readable_base": ra, "readable_new": rb,
                                               "n": len(units)}, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
