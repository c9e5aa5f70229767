"""Regenerate README.md's sample output of command 1 from a real run; never edit that block by hand.

    python scripts/readme_sample.py            # run `sasc explain --out out/food.json`, rewrite the block
    python scripts/readme_sample.py --check    # exit 1 when the block is not between its markers
    python scripts/readme_sample.py --keep-responses   # reuse cached n-gram responses; fresh helper replies

Runs ``sasc explain`` on its defaults (README command 1) with a fresh cache directory (the
assembled helper GGUF is linked in from the model cache, as in ``benchmarks/end_to_end.py``),
so the n-gram responses and every helper reply are computed, not read from a cache. The
printed table, from its first ``== unit`` line on, replaces the fenced block between
``<!-- readme-sample:begin -->`` and ``<!-- readme-sample:end -->`` in README.md, with a last
line saying when and how it was made (wall time, helper slots and threads, load average).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- readme-sample:begin -->"
END = "<!-- readme-sample:end -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"\n.*?\n" + re.escape(END), re.DOTALL)


def sample_block(output: str, footer: str) -> str:
    """The fenced block for README: ``output`` from its first ``== unit`` line, then ``footer``."""
    lines = output.rstrip("\n").splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("== unit")), None)
    if start is None:
        raise ValueError("the command printed no '== unit' table:\n" + output[-2000:])
    body = "\n".join(ln for ln in lines[start:] if not ln.startswith("wrote "))  # the temp path of the JSON
    return f"{BEGIN}\n```\n{body}\n\n{footer}\n```\n{END}"


def replace_block(readme: str, block: str) -> str:
    """``readme`` with the text between the markers (markers included) replaced by ``block``."""
    if len(_BLOCK.findall(readme)) != 1:
        raise ValueError(f"README.md must hold exactly one {BEGIN} ... {END} block")
    return _BLOCK.sub(lambda _: block, readme)


def run_command_1(keep_responses: bool = False) -> tuple[str, float]:
    """Stdout and wall seconds of ``sasc explain --out out/food.json`` with a fresh cache directory
    (``keep_responses``: the n-gram responses cache linked in, so only the helper's replies are fresh)."""
    root = Path(os.environ.get("SASC_CACHE", Path.home() / ".cache" / "sasc"))
    with tempfile.TemporaryDirectory(prefix="sasc-readme-") as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        for sub in ("models", "responses") if keep_responses else ("models",):
            if (root / sub).is_dir():
                (cache / sub).symlink_to(root / sub)
        cmd = [sys.executable, "-m", "sasc.cli", "explain", "--out", str(Path(tmp) / "food.json"),
               "--cache-dir", str(cache), "--quiet"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"sasc explain failed:\n{proc.stderr[-3000:]}")
    return proc.stdout, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that README.md has one marked block")
    parser.add_argument("--readme", default=str(ROOT / "README.md"), help="README to rewrite")
    parser.add_argument("--keep-responses", action="store_true",
                        help="reuse the cached n-gram responses (module outputs); helper replies stay fresh")
    args = parser.parse_args(argv)
    path = Path(args.readme)
    readme = path.read_text(encoding="utf-8")
    if args.check:
        found = len(_BLOCK.findall(readme))
        print(f"{path}: {found} marked sample block(s)")
        return 0 if found == 1 else 1
    replace_block(readme, "")  # fail before a long run when the markers are missing
    from sasc.llm.base import helper_slots
    from sasc.llm.factory import build_backend

    backend = build_backend("local")  # SASC_HELPER_SLOTS / SASC_HELPER_THREADS apply, as in the run
    slots, threads = helper_slots(backend), getattr(backend, "n_threads", "?")
    load = os.getloadavg()[0]
    output, seconds = run_command_1(args.keep_responses)
    load = max(load, os.getloadavg()[0])
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    caches = "no cached helper replies, n-gram responses from cache" if args.keep_responses else "empty caches"
    footer = (f"(scripts/readme_sample.py, {when}: `sasc explain --out out/food.json` with {caches}, "
              f"{seconds:.0f} s wall on {os.cpu_count()} cores, 1-min load average {load:.1f} (higher of start and end), "
              f"helper: {slots} slots, {threads} threads)")
    path.write_text(replace_block(readme, sample_block(output, footer)), encoding="utf-8")
    print(sample_block(output, footer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
