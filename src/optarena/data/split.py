"""How a held-out split size is given: a count (int >= 1) or a fraction in (0, 1)."""

import numpy as np

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


def seeded_split(n: int, sizes: dict[str, float | int], seed: int) -> dict[str, np.ndarray]:
    """Indices of `n` items split at random (seeded, the same for every run) into the named
    held-out splits of `sizes` (count or fraction each) and "train" (the rest).

    For items without one label each (segmentation masks), where a stratified split cannot
    apply. Errors name the config key (`data.<split>_size`).
    """
    order = np.random.default_rng(seed).permutation(n)
    out, start = {}, 0
    for name, size in sizes.items():
        count = split_count(size, n, f"data.{name}_size")
        out[name] = np.sort(order[start:start + count])
        start += count
    if start >= n:
        raise OptArenaError(f"data.{'_size + data.'.join(sizes)}_size leave no data for "
                            f"training ({n} items in all)")
    out["train"] = np.sort(order[start:])
    return out
