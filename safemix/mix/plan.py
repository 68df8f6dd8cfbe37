"""Pure planning functions: how many safety rows, which ones, and at which positions.

Everything here is integer/rational arithmetic and seeded RNGs, so a plan is exact and
reproducible: the same inputs and seed give the same plan on every machine.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator, Sequence

from safemix.errors import ConfigError
from safemix.ratios import count_for_ratio as count_for_ratio  # re-exported: the mixer's count rule
from safemix.ratios import exact_ratio


def normalise_prompt(text: str) -> str:
    """The form in which two prompts count as duplicates: NFKC, casefolded, whitespace collapsed.

    >>> normalise_prompt("  How do I   PICK a lock?\\n")
    'how do i pick a lock?'
    """
    if not text.isascii():  # NFKC is a no-op on ASCII; skipping it keeps 1M-row jobs fast
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split())


def count_for_token_ratio(user_tokens: int, safety_tokens: Sequence[int], ratio: float) -> int:
    """Smallest-error prefix length S of `safety_tokens` (the selection order) so that
    safety tokens / all tokens is closest to `ratio`.

    The safety token total lands within half of one example's tokens of the exact target
    r*U/(1-r). Returns -1 when even the whole sequence falls short of the target.

    >>> count_for_token_ratio(90, [5, 5, 5], 0.1)
    2
    """
    r = exact_ratio(ratio)
    target = r * user_tokens / (1 - r)
    total = 0
    if target == 0:
        return 0
    for i, t in enumerate(safety_tokens):
        before = total
        total += t
        if total >= target:
            # pick whichever of S=i and S=i+1 is closer to the target (ties: more safety)
            return i + 1 if (total - target) <= (target - before) else i
    return -1


def selection(pool_size: int, n: int, seed: int, allow_repeat: bool = False) -> list[tuple[int, int]]:
    """The first `n` (pool index, repeat) pairs of the seeded selection stream.

    The stream is a sequence of independent shuffles of the pool ("epochs"); repeat is the
    epoch number. Prefixes nest, so a 1% mix's safety rows are a subset of a 5% mix's, and
    with repetition every row is used floor(n/P) or ceil(n/P) times.

    >>> sorted(i for i, _ in selection(5, 5, seed=0))
    [0, 1, 2, 3, 4]
    """
    if n <= 0:
        return []
    if pool_size <= 0:
        raise ConfigError(f"{n} safety rows needed but the safety set has none to use")
    if n > pool_size and not allow_repeat:
        raise ConfigError(f"{n} safety rows needed but only {pool_size} available")
    out: list[tuple[int, int]] = []
    epoch = 0
    while len(out) < n:
        order = list(range(pool_size))
        random.Random(f"safemix.mix.select:{seed}:{epoch}").shuffle(order)
        out += [(i, epoch) for i in order[: n - len(out)]]
        epoch += 1
    return out


def spread_positions(total: int, n_safety: int) -> list[int]:
    """Evenly interleaved positions floor((i + 1/2) * T / S) of S safety rows among T rows.

    Every window of k consecutive rows holds floor(k*S/T) or ceil(k*S/T) safety rows: the
    rows in a window [a, a+k) are the integers i in [a*S/T - 1/2, (a+k)*S/T - 1/2), a
    half-open interval of length k*S/T. Integer arithmetic, so no float drift at any size.

    >>> spread_positions(10, 2), spread_positions(5, 5)
    ([2, 7], [0, 1, 2, 3, 4])
    """
    _check_total(total, n_safety)
    return [((2 * i + 1) * total) // (2 * n_safety) for i in range(n_safety)]


def shuffle_positions(total: int, n_safety: int, seed: int) -> list[int]:
    """S distinct positions drawn uniformly from range(T) with a seeded RNG, sorted."""
    _check_total(total, n_safety)
    return sorted(random.Random(f"safemix.mix.shuffle:{seed}").sample(range(total), n_safety))


def append_positions(total: int, n_safety: int) -> list[int]:
    """The last S positions: the user's rows first, in order, then the safety rows."""
    _check_total(total, n_safety)
    return list(range(total - n_safety, total))


def positions(strategy: str, total: int, n_safety: int, seed: int) -> list[int]:
    """Sorted output positions of the safety rows for `strategy`."""
    if strategy == "spread":
        return spread_positions(total, n_safety)
    if strategy == "shuffle":
        return shuffle_positions(total, n_safety, seed)
    if strategy == "append":
        return append_positions(total, n_safety)
    raise ConfigError(f"unknown mix strategy {strategy!r}; choose spread, shuffle or append")


def runs(n_user: int, positions: Sequence[int]) -> Iterator[tuple[str, int, int]]:
    """The mixed order as runs, whatever the strategy: ("user", a, b) is user rows a..b-1 and
    ("safety", a, b) the a-th..(b-1)-th safety rows, where `positions` are the sorted output
    rows of the safety rows (safety row k follows `positions[k] - k` user rows). Runs are
    never empty. Every writer of a mixed job follows this one order.

    >>> list(runs(3, [0, 2, 5]))
    [('safety', 0, 1), ('user', 0, 1), ('safety', 1, 2), ('user', 1, 3), ('safety', 2, 3)]
    >>> list(runs(2, [])), list(runs(0, [0, 1]))
    ([('user', 0, 2)], [('safety', 0, 2)])
    """
    u = k = 0
    n = len(positions)
    while k < n or u < n_user:
        stop = positions[k] - k if k < n else n_user  # user rows before the next safety row
        if stop < u or stop > n_user:
            raise ValueError(f"safety positions must be sorted, distinct and below {n_user + n}")
        if stop > u:
            yield "user", u, stop
            u = stop
        k0 = k
        while k < n and positions[k] - k == u:
            k += 1
        if k > k0:
            yield "safety", k0, k


def _check_total(total: int, n_safety: int) -> None:
    if not 0 <= n_safety <= total:
        raise ValueError(f"need 0 <= safety rows ({n_safety}) <= total rows ({total})")
