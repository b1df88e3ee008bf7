"""Generate ``reviews.csv``: short product reviews with a sentiment label, for text classification.

Each review strings together a few phrases: opinion phrases that carry the sentiment (some
negated: "not great" is negative), product nouns and neutral filler, in random order and
length (4 to 30 words), so the label depends on words *and* their order. Labels: positive,
negative, mixed (both kinds of opinion). Run ``python examples/data/make_reviews.py``; then
``seqsearch run examples/data/reviews.csv``.
"""

from pathlib import Path

import numpy as np

GOOD = ["great", "excellent", "reliable", "fast", "comfortable", "sturdy", "brilliant", "worth it"]
BAD = ["terrible", "broken", "slow", "flimsy", "disappointing", "noisy", "useless", "overpriced"]
NOUNS = ["battery", "screen", "charger", "case", "strap", "speaker", "app", "delivery", "price", "sound"]
FILLER = ["the", "i", "bought", "this", "for", "my", "son", "and", "it", "was", "after", "a", "week", "honestly",
          "overall", "really", "quite", "so", "also", "then"]


def _opinion(rng, positive):
    negate = rng.random() < 0.25
    word = rng.choice(BAD if positive == negate else GOOD)  # "not terrible" reads positive
    return (["not"] if negate else []) + str(word).split()


def make(n=900, seed=3):
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = ("positive", "negative", "mixed")[i % 3]
        kinds = {"positive": [True], "negative": [False], "mixed": [True, False]}[label]
        words = []
        for positive in kinds:
            for _ in range(int(rng.integers(1, 3))):
                words += [str(rng.choice(NOUNS)), "is", *_opinion(rng, positive)]
        filler = [str(w) for w in rng.choice(FILLER, size=int(rng.integers(2, 14)))]
        at = int(rng.integers(0, len(filler) + 1))
        text = " ".join(filler[:at] + words + filler[at:])
        rows.append({"id": f"r{i:04d}", "review": text.capitalize() + rng.choice([".", "!", "..."]), "label": label})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


if __name__ == "__main__":
    df = make()
    out = Path(__file__).with_name("reviews.csv")
    df.to_csv(out, index=False)
    print(out, df.shape)
