"""How a held-out split size is given: a count (int >= 1) or a fraction in (0, 1)."""

from optarena.errors import OptArenaError


def split_count(size: float | int, n: int, name: str) -> int:
    """Number of items for a split of `size` (count or fraction) out of `n`."""
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise OptArenaError(f"{name} must be a count or a fraction, got {size!r}")
    if isinstance(size, float) and 0.0 < size < 1.0:
        count = round(size * n)
    elif float(size).is_integer() and size >= 1:
        count = int(size)
    else:
        raise OptArenaError(f"{name}={size} is neither a count >= 1 nor a fraction in (0, 1)")
    if not 1 <= count < n:
        raise OptArenaError(f"{name}={size} leaves no data for training ({n} items in all)")
    return count
