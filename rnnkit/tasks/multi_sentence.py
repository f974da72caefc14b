"""A multi-sentence task for a hierarchical encoder: name the subject of the k-th sentence.

A source is 3 to 6 sentences "the <colour> <animal> <verb> the <object> ."
(each subject distinct), then a question "who is in sentence <k> ?", with k
spelt as a word ("three"). The target is "<colour> <animal>" of sentence k.
A word-level RNN read once per sentence and a sentence-level RNN over the
sentence vectors (the hierarchical encoder of Li et al. 2015, "A Hierarchical
Neural Autoencoder for Paragraphs and Documents") count sentences directly;
:func:`split_sentences` cuts a token list at the sentence ends "." and "?".
Word level.

Example
-------
>>> src, tgt = multi_sentence_pairs(1, seed=0)[0]
>>> sentences = split_sentences(src.split())
>>> k = ORDINALS.index(sentences[-1][-2])
>>> " ".join(sentences[k][1:3]) == tgt
True
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rnnkit._validate import check_positive_int, make_rng

COLOURS = ("red", "blue", "green", "yellow", "black", "white", "grey", "brown")
ANIMALS = ("fox", "cat", "dog", "owl", "bear", "hare", "wolf", "goat", "duck", "frog")
VERBS = ("sees", "likes", "finds", "chases", "hides", "carries", "wants", "eats")
OBJECTS = ("apple", "ball", "stick", "stone", "leaf", "shoe", "hat", "cake", "box", "rope")
ORDINALS = ("one", "two", "three", "four", "five", "six")  # sentence k (0-based index) is ORDINALS[k]
SENTENCE_ENDS = (".", "?")
MIN_SENTENCES, MAX_SENTENCES = 3, 6


def split_sentences(tokens: Sequence[str], ends: Collection[str] = SENTENCE_ENDS) -> list[list[str]]:
    """Cut ``tokens`` after each sentence end; a trailing part without an end is a sentence too."""
    out, cur = [], []
    for t in tokens:
        cur.append(t)
        if t in ends:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def multi_sentence_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs (sentences and a question, "<colour> <animal>")."""
    n = check_positive_int("multi_sentence_pairs", "n", n)
    rng = make_rng("multi_sentence_pairs", seed)
    subjects = [(c, a) for c in COLOURS for a in ANIMALS]
    out = []
    for _ in range(n):
        m = int(rng.integers(MIN_SENTENCES, MAX_SENTENCES + 1))
        chosen = rng.choice(len(subjects), size=m, replace=False)
        parts = []
        for j in chosen:
            colour, animal = subjects[int(j)]
            verb = VERBS[int(rng.integers(len(VERBS)))]
            obj = OBJECTS[int(rng.integers(len(OBJECTS)))]
            parts.append(f"the {colour} {animal} {verb} the {obj} .")
        k = int(rng.integers(m))
        parts.append(f"who is in sentence {ORDINALS[k]} ?")
        colour, animal = subjects[int(chosen[k])]
        out.append((" ".join(parts), f"{colour} {animal}"))
    return out
