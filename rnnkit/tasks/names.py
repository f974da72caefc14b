"""A copy-heavy task: reorder a person's name found in a sentence, "firstname lastname" -> "lastname , firstname".

Names are made up from syllables (some 10^8 possible full names), so nearly
every name of a test set is new; the target vocabulary is closed
(:data:`TARGET_TOKENS`: the comma and nothing else), so a name can reach the
output only by being copied from the source, as a pointer-generator does (See
et al. 2017, "Get To The Point: Summarization with Pointer-Generator
Networks"). A model without copying can at best produce the comma. Word level:
tokens are separated by spaces.

Example
-------
>>> src, tgt = name_pairs(1, seed=0)[0]
>>> first, last = tgt.split(" , ")[1], tgt.split(" , ")[0]
>>> f"{first} {last}" in src
True
"""

from __future__ import annotations

import numpy as np

from rnnkit._validate import check_positive_int, make_rng

TARGET_TOKENS = (",",)  # the whole target vocabulary besides the special tokens
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "ch", "sh", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "", "n", "r", "s", "l")
TEMPLATES = (
    "please send the invoice to {name} before friday",
    "{name} will chair the meeting on monday",
    "the award goes to {name} this year",
    "we met {name} at the station",
    "contact {name} for the details",
    "yesterday {name} signed the contract",
    "the new manager is {name}",
    "a parcel arrived for {name} this morning",
    "{name} called about the order",
    "our thanks go to {name} and the whole team",
)


def make_name(rng: np.random.Generator) -> str:
    """A pronounceable made-up word of two or three syllables."""
    syllables = int(rng.integers(2, 4))
    parts = []
    for _ in range(syllables):
        parts.append(
            _ONSETS[int(rng.integers(len(_ONSETS)))]
            + _VOWELS[int(rng.integers(len(_VOWELS)))]
            + _CODAS[int(rng.integers(len(_CODAS)))]
        )
    return "".join(parts)


def name_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs (a sentence naming "first last", "last , first")."""
    n = check_positive_int("name_pairs", "n", n)
    rng = make_rng("name_pairs", seed)
    out = []
    for _ in range(n):
        first, last = make_name(rng), make_name(rng)
        template = TEMPLATES[int(rng.integers(len(TEMPLATES)))]
        out.append((template.format(name=f"{first} {last}"), f"{last} , {first}"))
    return out
