"""Generate a character transliteration task with context-dependent rules: made-up words in a
Latin spelling, rewritten in Cyrillic letters the way a pronunciation-based transliteration would.

Most letters map one to one, but many do not, and which way depends on the neighbours:

* ``c`` is ``к`` before a, o, u or a consonant and ``с`` before e, i, y; ``ch`` is ``ч``;
* ``sh`` is ``ш``, ``zh`` ``ж``, ``kh`` ``х``, ``ph`` ``ф``, ``th`` ``т``, ``qu`` ``кв``, ``ck`` ``к``, ``x`` ``кс``;
* ``y`` is ``й`` at the start of a word or after a vowel and ``ы`` after a consonant;
* ``e`` is ``э`` at the start of a word or after a vowel, ``е`` after a consonant, and a final
  ``e`` after a consonant is silent;
* a doubled consonant is written once; ``ee`` is ``и`` and ``oo`` is ``у``.

Sources are 3-14 letters built from syllables, so the model must read up to two letters of
context on each side. Run ``python examples/data/make_translit.py`` (writes ``translit.tsv``,
10,000 pairs); then ``seqsearch run examples/data/translit.tsv``.
"""

from pathlib import Path

import numpy as np

VOWELS = set("aeiouy")
SIMPLE = dict(zip("abdfgijklmnoprstuvwz", "абдфгийклмнопрстуввз"))
DIGRAPHS = {"ch": "ч", "sh": "ш", "zh": "ж", "kh": "х", "ph": "ф", "th": "т", "qu": "кв", "ck": "к", "ee": "и", "oo": "у"}
ONSETS = ["", "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "x", "y", "z", "ch", "sh",
          "zh", "kh", "ph", "th", "qu", "bl", "br", "cr", "st", "tr", "sp"]
NUCLEI = ["a", "e", "i", "o", "u", "y", "ee", "oo", "ai", "ou"]
CODAS = ["", "", "", "n", "r", "s", "l", "m", "t", "ck", "ss", "ll", "nn", "tt", "x"]


def transliterate(word: str) -> str:
    out, i, n = [], 0, len(word)
    while i < n:
        two = word[i:i + 2]
        prev = word[i - 1] if i else ""
        ch = word[i]
        if two in DIGRAPHS:
            out.append(DIGRAPHS[two])
            i += 2
            continue
        if i + 1 < n and word[i + 1] == ch and ch not in VOWELS:  # a doubled consonant, written once
            i += 1
            continue
        if ch == "c":
            nxt = word[i + 1] if i + 1 < n else ""
            out.append("с" if nxt in ("e", "i", "y") else "к")
        elif ch == "x":
            out.append("кс")
        elif ch == "y":
            out.append("й" if not prev or prev in VOWELS else "ы")
        elif ch == "e":
            if i == n - 1 and prev and prev not in VOWELS:
                pass  # a silent final e
            else:
                out.append("э" if not prev or prev in VOWELS else "е")
        else:
            out.append(SIMPLE[ch])
        i += 1
    return "".join(out)


def _word(rng) -> str:
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        parts += [rng.choice(ONSETS), rng.choice(NUCLEI), rng.choice(CODAS)]
    if rng.random() < 0.25:
        parts.append("e")
    return "".join(parts)


def make(n=10000, seed=11):
    rng = np.random.default_rng(seed)
    lines, seen = ["source\ttarget"], set()
    while len(lines) <= n:
        w = _word(rng)
        if 3 <= len(w) <= 14 and w not in seen:
            seen.add(w)
            lines.append(f"{w}\t{transliterate(w)}")
    return lines


if __name__ == "__main__":
    lines = make()
    out = Path(__file__).with_name("translit.tsv")
    out.write_text("\n".join(lines) + "\n")
    print(out, len(lines) - 1, "pairs")
