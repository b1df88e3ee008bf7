"""Generate ``dates.tsv``: dates written the ways people write them, paired with ISO 8601.

``23 March 2024``, ``March 23, 2024``, ``23/03/2024``, ``Sat 23 Mar 24`` -> ``2024-03-23``: a
character-level seq2seq task (sources of 8-29 characters, targets of 10), the classic toy for
attention. Run ``python examples/data/make_dates.py``; then
``seqsearch run examples/data/dates.tsv``.
"""

import datetime as dt
from pathlib import Path

import numpy as np

FORMATS = ["%d %B %Y", "%B %d, %Y", "%d/%m/%Y", "%a %d %b %y", "%d.%m.%Y", "%b %d %Y", "%A, %B %d, %Y", "%Y %b %d"]


def make(n=3000, seed=5):
    rng = np.random.default_rng(seed)
    start = dt.date(1950, 1, 1).toordinal()
    end = dt.date(2049, 12, 31).toordinal()
    lines = ["source\ttarget"]
    for _ in range(n):
        day = dt.date.fromordinal(int(rng.integers(start, end + 1)))
        text = day.strftime(str(rng.choice(FORMATS)))
        if rng.random() < 0.3:
            text = text.lower()
        lines.append(f"{text}\t{day.isoformat()}")
    return lines


if __name__ == "__main__":
    lines = make()
    out = Path(__file__).with_name("dates.tsv")
    out.write_text("\n".join(lines) + "\n")
    print(out, len(lines) - 1, "pairs")
