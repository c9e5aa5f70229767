"""Comma-separated lists as written in flags, module specs and environment variables."""

from __future__ import annotations


def split_list(text: str) -> list[str]:
    """The stripped, non-empty parts of a comma-separated list: ``" a, b,,c "`` -> ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_ranges(text: str, what: str = "index", limit: int | None = None) -> list[int]:
    """Integers from a list of indices and inclusive ranges: ``"0,1,5-7"`` -> ``[0, 1, 5, 6, 7]``.

    With ``limit``, every bound is checked against ``0..limit-1`` before a range is expanded
    and repeats are dropped, so a short string never expands to more than ``limit`` items.
    Raises ``ValueError`` naming the first part that is neither (``what`` names the items)
    or, with ``limit``, the first bound out of range.
    """
    out: list[int] = []
    seen: set[int] = set()
    for part in split_list(text):
        lo, dash, hi = part.partition("-")
        try:
            bounds = (int(lo), int(hi) if dash else int(lo))
        except ValueError:
            raise ValueError(f"bad {what} {part[:40]!r}: expected an index, a range like 5-9 "
                             "or a comma-separated list") from None
        if limit is not None:
            bad = next((b for b in bounds if not 0 <= b < limit), None)
            if bad is not None:
                raise ValueError(f"{what} {bad} out of range: valid {what}s are 0..{limit - 1}")
        items = range(bounds[0], bounds[1] + 1)
        if limit is not None:  # repeats dropped, so the list stays within limit items
            items = [i for i in items if i not in seen]
            seen.update(items)
        out.extend(items)
    return out
