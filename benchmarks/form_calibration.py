"""How well the form check separates the hand-labelled strings of tests/data/form_calibration.tsv.

    python benchmarks/form_calibration.py

Scores every string with SmolLM2-135M (one batched pass) and prints, for four fluency measures
(plain mean token log-probability; gain over the frame-only prior on all tokens, without the
first token, and on the words only), the AUC of "bad below good", the floor that maximizes the
accuracy of rules + fluency (fewest good strings flagged on ties), and what that floor flags.
The measure used is the gain without the first token (:func:`sasc.form.slor`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sasc.form import FLUENCY_FLOOR, LMFluency, form_flags

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "form_calibration.tsv"


def measures(logprobs: list[float], prior: list[float]) -> dict[str, float]:
    gains = [a - b for a, b in zip(logprobs, prior)]
    return {"mean log-prob": float(np.mean(logprobs)), "gain, all tokens": float(np.mean(gains)),
            "gain, first token left out": float(np.mean(gains[1:])) if len(gains) > 1 else np.nan,
            "gain, words only": float(np.mean(gains[1:-1])) if len(gains) > 2 else np.nan}


def main() -> None:
    rows = [line.split("\t") for line in DATA.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]
    bad = np.array([label == "bad" for label, _ in rows])
    rule = np.array([bool(form_flags(text)) for _, text in rows])
    print(f"{len(rows)} strings ({(~bad).sum()} good, {bad.sum()} bad); the rules flag {rule[~bad].sum()} good, "
          f"{rule[bad].sum()} bad")
    scored = [measures(*x) for x in LMFluency().token_logprobs([text for _, text in rows])]
    for name in scored[0]:
        s = np.array([m[name] for m in scored])
        ok = ~np.isnan(s)
        auc = np.mean([a < b for a in s[bad & ok] for b in s[~bad & ok]])
        best = None
        for floor in sorted(set(s[ok])):
            flagged = rule | (ok & (s < floor + 1e-6))
            key = (np.mean(flagged == bad), -np.sum(flagged & ~bad))
            if best is None or key > best[0]:
                best = (key, floor, int(np.sum(flagged & ~bad)), int(np.sum(~flagged & bad)))
        print(f"{name:28s} AUC {auc:.3f}  best floor {best[1]:6.2f}  accuracy {best[0][0]:.3f}  "
              f"good flagged {best[2]}  bad passed {best[3]}")
    used = np.array([m["gain, first token left out"] for m in scored])
    flagged = rule | (used < FLUENCY_FLOOR)
    print(f"\nat FLUENCY_FLOOR = {FLUENCY_FLOOR}: accuracy {np.mean(flagged == bad):.3f}; good flagged: "
          f"{[t for (_, t), f, b in zip(rows, flagged, bad) if f and not b]}; bad passed: "
          f"{[t for (_, t), f, b in zip(rows, flagged, bad) if b and not f]}")


if __name__ == "__main__":
    main()
