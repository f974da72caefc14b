"""A token <-> id mapping for character and word language models, saved as JSON.

Ids are laid out deterministically, so two builds from the same corpus agree:

    specials first, in the fixed order  pad, unk, bos, eos   (only those that are set)
    then the regular tokens, by count descending, ties by token ascending (code-point order)

``<unk>`` and ``<eos>`` always exist; ``<pad>`` and ``<bos>`` are optional.
``min_count`` drops regular tokens seen fewer times; ``max_size`` caps the whole
vocabulary, specials included (V <= max_size). A token that is not in the
vocabulary encodes to the unk id; the unk entry of ``counts`` therefore holds
the literal ``<unk>`` occurrences plus every dropped token's occurrences.

Files are JSON (never pickle)::

    {"format": "rnnkit.Vocabulary", "version": 1, "tokens": [...],
     "specials": {"pad": null, "unk": "<unk>", "bos": null, "eos": "<eos>"},
     "counts": [...] or null}

Example
-------
>>> from rnnkit.text.vocab import Vocabulary
>>> v = Vocabulary.from_tokens("the cat sat on the mat <eos>".split(), min_count=1)
>>> v.tokens
('<unk>', '<eos>', 'the', 'cat', 'mat', 'on', 'sat')
>>> v.encode(["the", "dog", "<eos>"]).tolist(), v.decode([3, 0])
([2, 0, 1], ['cat', '<unk>'])
>>> Vocabulary.from_json(v.to_json()) == v
True
"""

from __future__ import annotations

import json
import numbers
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from rnnkit._validate import check_positive_int

_FORMAT = "rnnkit.Vocabulary"
_VERSION = 1
_SPECIAL_ORDER = ("pad", "unk", "bos", "eos")


def _check_token_name(where: str, name: str, value, *, optional: bool) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value == "":
        kind = "a non-empty str or None" if optional else "a non-empty str"
        raise TypeError(f"{where}: {name} must be {kind}, got {type(value).__name__} {value!r}")
    return value


class Vocabulary:
    """An ordered list of distinct tokens with special entries for unknown, end, padding and start.

    ``tokens`` is the complete id -> token list (id = position); it must
    contain every special token that is set. Prefer :meth:`from_tokens`, which
    also decides the order.

    Attributes: ``tokens`` (tuple, length V), ``counts`` (int64 array (V,) or
    None), ``unk_id``, ``eos_id``, ``pad_id`` / ``bos_id`` (None when absent),
    and the token strings ``unk_token``, ``eos_token``, ``pad_token``, ``bos_token``.
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        unk_token: str = "<unk>",
        eos_token: str = "<eos>",
        pad_token: str | None = None,
        bos_token: str | None = None,
        counts: Sequence[int] | None = None,
    ) -> None:
        where = "Vocabulary"
        if isinstance(tokens, str) or not isinstance(tokens, (Sequence, np.ndarray)):
            raise TypeError(f"{where}: tokens must be a sequence of str, got {type(tokens).__name__}")
        tokens = tuple(tokens)
        for i, t in enumerate(tokens):
            if not isinstance(t, str):
                raise TypeError(f"{where}: tokens must all be str, got {type(t).__name__} {t!r} at index {i}")
        self._stoi = {t: i for i, t in enumerate(tokens)}
        if len(self._stoi) != len(tokens):
            dup = next(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"{where}: tokens must be distinct, got {dup!r} more than once")
        specials = {
            "pad": _check_token_name(where, "pad_token", pad_token, optional=True),
            "unk": _check_token_name(where, "unk_token", unk_token, optional=False),
            "bos": _check_token_name(where, "bos_token", bos_token, optional=True),
            "eos": _check_token_name(where, "eos_token", eos_token, optional=False),
        }
        set_specials = [s for s in specials.values() if s is not None]
        if len(set(set_specials)) != len(set_specials):
            raise ValueError(f"{where}: the special tokens must be distinct, got {specials}")
        for kind, tok in specials.items():
            if tok is not None and tok not in self._stoi:
                raise ValueError(f"{where}: {kind}_token {tok!r} must be one of the tokens, got a list without it")
        self.tokens = tokens
        self.unk_token, self.eos_token = specials["unk"], specials["eos"]
        self.pad_token, self.bos_token = specials["pad"], specials["bos"]
        self.unk_id = self._stoi[self.unk_token]
        self.eos_id = self._stoi[self.eos_token]
        self.pad_id = None if self.pad_token is None else self._stoi[self.pad_token]
        self.bos_id = None if self.bos_token is None else self._stoi[self.bos_token]
        if counts is None:
            self.counts = None
        else:
            c = np.asarray(counts)
            if c.shape != (len(tokens),) or c.dtype.kind not in "iu" or (c < 0).any():
                raise ValueError(
                    f"{where}: counts must be {len(tokens)} non-negative ints (one per token), "
                    f"got shape {c.shape} dtype {c.dtype}"
                )
            self.counts = c.astype(np.int64)

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        unk_token: str = "<unk>",
        eos_token: str = "<eos>",
        pad_token: str | None = None,
        bos_token: str | None = None,
    ) -> Vocabulary:
        """Count a flat stream of tokens and build the vocabulary in the deterministic order."""
        where = "Vocabulary.from_tokens"
        if isinstance(tokens, str):
            raise TypeError(
                f"{where}: tokens must be an iterable of str tokens, got a str; pass list(text) for characters"
            )
        counter = Counter()
        for i, t in enumerate(tokens):
            if not isinstance(t, str):
                raise TypeError(f"{where}: tokens must all be str, got {type(t).__name__} {t!r} at position {i}")
            counter[t] += 1
        return cls.from_counts(
            counter,
            min_count=min_count,
            max_size=max_size,
            unk_token=unk_token,
            eos_token=eos_token,
            pad_token=pad_token,
            bos_token=bos_token,
        )

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        unk_token: str = "<unk>",
        eos_token: str = "<eos>",
        pad_token: str | None = None,
        bos_token: str | None = None,
    ) -> Vocabulary:
        """Build from a token -> count mapping (a ``collections.Counter``, say)."""
        where = "Vocabulary.from_counts"
        if not isinstance(counts, Mapping):
            raise TypeError(f"{where}: counts must be a mapping of token -> count, got {type(counts).__name__}")
        min_count = check_positive_int(where, "min_count", min_count)
        names = {"pad": pad_token, "unk": unk_token, "bos": bos_token, "eos": eos_token}
        specials = [names[k] for k in _SPECIAL_ORDER if names[k] is not None]
        if max_size is not None:
            max_size = check_positive_int(where, "max_size", max_size)
            if max_size < len(specials):
                raise ValueError(
                    f"{where}: max_size must be >= {len(specials)} (the special tokens {specials}), got {max_size}"
                )
        for t, n in counts.items():
            if not isinstance(t, str):
                raise TypeError(f"{where}: tokens must be str, got {type(t).__name__} {t!r}")
            if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
                raise ValueError(f"{where}: counts must be non-negative ints, got {n!r} for token {t!r}")
        regular = [(t, int(n)) for t, n in counts.items() if t not in specials and n >= min_count]
        regular.sort(key=lambda tn: (-tn[1], tn[0]))
        if max_size is not None:
            regular = regular[: max_size - len(specials)]
        kept = dict(regular)
        tokens = specials + [t for t, _ in regular]
        dropped = sum(int(n) for t, n in counts.items() if t not in kept and t not in specials)
        cnt = [int(counts.get(s, 0)) for s in specials] + [n for _, n in regular]
        cnt[specials.index(unk_token)] += dropped
        return cls(
            tokens, unk_token=unk_token, eos_token=eos_token, pad_token=pad_token, bos_token=bos_token, counts=cnt
        )

    # -- lookup -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token) -> bool:
        return token in self._stoi

    def __iter__(self):
        return iter(self.tokens)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        same_counts = (self.counts is None and other.counts is None) or (
            self.counts is not None and other.counts is not None and np.array_equal(self.counts, other.counts)
        )
        return self.tokens == other.tokens and self._specials() == other._specials() and same_counts

    def __repr__(self) -> str:
        sp = ", ".join(f"{k}={v!r}" for k, v in self._specials().items() if v is not None)
        return f"Vocabulary(V={len(self)}, {sp})"

    def _specials(self) -> dict:
        return {"pad": self.pad_token, "unk": self.unk_token, "bos": self.bos_token, "eos": self.eos_token}

    def index(self, token: str) -> int:
        """The id of ``token``; ``unk_id`` for a str not in the vocabulary; TypeError for anything but a str."""
        if not isinstance(token, str):
            raise TypeError(f"Vocabulary.index: token must be a str, got {type(token).__name__} {token!r}")
        return self._stoi.get(token, self.unk_id)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Tokens -> int64 ids (T,); tokens not in the vocabulary become ``unk_id``."""
        if isinstance(tokens, str):
            raise TypeError(
                f"Vocabulary.encode: tokens must be a sequence of str tokens, got a str {tokens[:20]!r}; "
                "pass list(text) for characters"
            )
        tokens = list(tokens)
        get = self._stoi.get
        try:
            ids = [get(t, -1) for t in tokens]
        except TypeError:  # an unhashable token
            ids = [-1] * len(tokens)
        if -1 in ids:  # only a token missing from the vocabulary can be a non-str
            for i, (t, j) in enumerate(zip(tokens, ids)):
                if j == -1:
                    if not isinstance(t, str):
                        raise TypeError(
                            f"Vocabulary.encode: tokens must be str, got {type(t).__name__} {t!r} at position {i}"
                        )
                    ids[i] = self.unk_id
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids: ArrayLike) -> list[str]:
        """Ids (any int sequence or 1-D int array) -> list of token strings."""
        arr = np.asarray(ids)
        if arr.size == 0:
            return []
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise TypeError(
                f"Vocabulary.decode: ids must be a 1-D sequence of ints, got shape {arr.shape} dtype {arr.dtype}"
            )
        bad = (arr < 0) | (arr >= len(self.tokens))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"Vocabulary.decode: ids must be in [0, {len(self.tokens)}), got {int(arr[i])} at index {i}"
            )
        return [self.tokens[i] for i in arr.tolist()]

    # -- files ------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The vocabulary as a JSON string (see the module docstring for the layout)."""
        return json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "tokens": list(self.tokens),
                "specials": self._specials(),
                "counts": None if self.counts is None else self.counts.tolist(),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """Parse :meth:`to_json` output; every field is checked."""
        where = "Vocabulary.from_json"
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"{where}: text must be a JSON str, got {type(text).__name__}")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where}: text must be valid JSON, got an error: {e}") from None
        if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
            got = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
            raise ValueError(f"{where}: format must be {_FORMAT!r}, got {got!r}")
        if obj.get("version") != _VERSION:
            raise ValueError(f"{where}: version must be {_VERSION}, got {obj.get('version')!r}")
        sp = obj.get("specials")
        if not isinstance(sp, dict) or set(sp) != set(_SPECIAL_ORDER):
            raise ValueError(f"{where}: specials must have the keys {list(_SPECIAL_ORDER)}, got {sp!r}")
        tokens = obj.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError(f"{where}: tokens must be a list, got {type(tokens).__name__}")
        return cls(
            tokens,
            unk_token=sp["unk"],
            eos_token=sp["eos"],
            pad_token=sp["pad"],
            bos_token=sp["bos"],
            counts=obj.get("counts"),
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` atomically (temporary file, fsync, rename)."""
        from rnnkit.io import atomic_write

        atomic_write(path, [self.to_json().encode("utf-8")])

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a file written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())
