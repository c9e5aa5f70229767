"""Comma-separated lists as written in flags, module specs and environment variables."""

from __future__ import annotations


def split_list(text: str) -> list[str]:
    """The stripped, non-empty parts of a comma-separated list: ``" a, b,,c "`` -> ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_ranges(text: str, what: str = "index") -> list[int]:
    """Integers from a list of indices and inclusive ranges: ``"0,1,5-7"`` -> ``[0, 1, 5, 6, 7]``.

    Raises ``ValueError`` naming the first part that is neither (``what`` names the items).
    """
    out: list[int] = []
    for part in split_list(text):
        lo, dash, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if dash else [int(lo)])
        except ValueError:
            raise ValueError(f"bad {what} {part!r}: expected an index, a range like 5-9 "
                             "or a comma-separated list") from None
    return out
