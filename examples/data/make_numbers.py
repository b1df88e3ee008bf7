"""Generate numbers-to-words pairs: ``1204`` -> ``one thousand two hundred four``.

Digits in (characters), English words out (word tokens): the model must read place value
across the whole source ("12" starts "twelve", "120" "one hundred twenty", "1000000" "one
million") and emit a target whose length depends on the digits (``0`` is one word,
``777777777`` fourteen). Numbers below a billion, their number of digits (1 to ``max_digits``)
drawn uniformly so short and long numbers are equally common. Run ``python
examples/data/make_numbers.py`` (writes ``numbers.tsv``, 8,000 pairs); then ``seqsearch run
examples/data/numbers.tsv``.
"""

from pathlib import Path

import numpy as np

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _below_thousand(n: int) -> list[str]:
    words = []
    if n >= 100:
        words += [ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(TENS[n // 10])
        n %= 10
        if n:
            words.append(ONES[n])
    elif n:
        words.append(ONES[n])
    return words


def words(n: int) -> str:
    """English words of 0 <= n < 1,000,000,000 (no "and", no hyphens: one token per word)."""
    if n == 0:
        return "zero"
    millions, rest = divmod(n, 1_000_000)
    thousands, rest = divmod(rest, 1000)
    out = _below_thousand(millions) + ["million"] if millions else []
    out += _below_thousand(thousands) + ["thousand"] if thousands else []
    return " ".join(out + _below_thousand(rest))


def make(n=8000, seed=7, max_digits=9):
    rng = np.random.default_rng(seed)
    lines = ["source\ttarget"]
    for _ in range(n):
        digits = int(rng.integers(1, max_digits + 1))
        low = 0 if digits == 1 else 10 ** (digits - 1)
        value = int(rng.integers(low, 10 ** digits))
        lines.append(f"{value}\t{words(value)}")
    return lines


if __name__ == "__main__":
    lines = make()
    out = Path(__file__).with_name("numbers.tsv")
    out.write_text("\n".join(lines) + "\n")
    print(out, len(lines) - 1, "pairs")
