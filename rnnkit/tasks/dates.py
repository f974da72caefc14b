"""Date normalisation: dates as people write them -> ISO 8601 ("2026-11-24"), character level.

A source is a date between 1950-01-01 and 2049-12-31 written in one *format*,
a combination of independent choices drawn uniformly, one by one:

    layout      numeric: D.M.Y   M/D/Y   Y-M-D            (the separator fixes the order)
                words:   D M Y   D M, Y   M D, Y   M D Y   the D of M Y   the D of M, Y   Y M D
    weekday     none | full ("Tuesday") | abbreviated ("Tue"), before or after the date,
                joined by " " or ", ", cased lower | title | upper
    day         plain (5) | zero-padded (05) | ordinal (5th; the suffix lower or upper case)
                ("the D of M" layouts always take the ordinal; numeric layouts never do)
    month       numeric layouts: plain | zero-padded
                word layouts:    full ("November") | abbreviated ("Nov") | abbreviated with a dot ("Nov.")
                                 ("May" has no dot), cased lower | title | upper
    year        four digits (2026) | two digits (26) | apostrophe and two digits ('26)
                (numeric layouts: no apostrophe; "Y M D": four digits only)
    article     "the" and "of", cased lower | title | upper

so "tuesday 24 november 2026", "24.11.26", "Nov 24, 2026" and "the 24th of
November, 2026" are four of 20,400 formats. Every source maps to
one date: numeric layouts are told apart by their separator, a month word
fixes which number is the day, "Y M D" always has four digits, and two-digit
years pivot at 50 (50..99 -> 1950..1999, 00..49 -> 2000..2049). A weekday, when
present, is the true one.

Held-out formats. The formats are many more than a training set of a few
thousand dates can show, while each single choice (a layout, a casing, a year
style) is seen hundreds of times; so a test set drawn with another seed holds
*combinations* never seen in training, built from parts that were. The
format of each pair is returned on request (a :class:`DateFormat`) so that
this can be measured (tests/seq2seq/test_task_dates.py does).

Example
-------
>>> pairs = date_pairs(3, seed=0)
>>> [t for _, t in pairs] == [t for _, t in date_pairs(3, seed=0)]   # seeded
True
>>> fmt = DateFormat("the D of M, Y", weekday="full", weekday_position="front", weekday_sep=" ",
...                  weekday_case="lower", day="ordinal", suffix_case="lower", month="full",
...                  month_case="title", year="4", article_case="lower")
>>> render_date(datetime.date(2026, 11, 24), fmt)
'tuesday the 24th of November, 2026'
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields

import numpy as np

from rnnkit._validate import check_positive_int, make_rng

FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
PIVOT = 50  # two-digit years: yy >= PIVOT -> 19yy, yy < PIVOT -> 20yy

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # date.weekday() order

NUMERIC_LAYOUTS = ("D.M.Y", "M/D/Y", "Y-M-D")
WORD_LAYOUTS = ("D M Y", "D M, Y", "M D, Y", "M D Y", "the D of M Y", "the D of M, Y", "Y M D")
LAYOUTS = NUMERIC_LAYOUTS + WORD_LAYOUTS
CASES = ("lower", "title", "upper")


@dataclass(frozen=True)
class DateFormat:
    """One way of writing a date; ``None`` marks a choice the layout does not make."""

    layout: str  # one of LAYOUTS
    weekday: str = "none"  # none | full | abbr
    weekday_position: str | None = None  # front | back
    weekday_sep: str | None = None  # " " | ", "
    weekday_case: str | None = None  # lower | title | upper
    day: str = "plain"  # plain | padded | ordinal
    suffix_case: str | None = None  # lower | upper (the ordinal's "th")
    month: str = "plain"  # numeric: plain | padded; words: full | abbr | abbr.
    month_case: str | None = None
    year: str = "4"  # 4 | 2 | '2
    article_case: str | None = None  # "the ... of" layouts

    @property
    def numeric(self) -> bool:
        return self.layout in NUMERIC_LAYOUTS

    def parts(self) -> dict:
        """The choices made, by name (those the layout does not make left out)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def draw_format(rng: np.random.Generator) -> DateFormat:
    """Draw a format: each choice uniformly among those the earlier choices allow."""
    layout = _pick(rng, LAYOUTS)
    numeric = layout in NUMERIC_LAYOUTS
    kw: dict = {"layout": layout, "weekday": _pick(rng, ("none", "full", "abbr"))}
    if kw["weekday"] != "none":
        kw["weekday_position"] = _pick(rng, ("front", "back"))
        kw["weekday_sep"] = _pick(rng, (" ", ", "))
        kw["weekday_case"] = _pick(rng, CASES)
    if numeric:
        kw["day"] = _pick(rng, ("plain", "padded"))
        kw["month"] = _pick(rng, ("plain", "padded"))
        kw["year"] = _pick(rng, ("4", "2"))
        return DateFormat(**kw)
    kw["day"] = "ordinal" if layout.startswith("the") else _pick(rng, ("plain", "padded", "ordinal"))
    if kw["day"] == "ordinal":
        kw["suffix_case"] = _pick(rng, ("lower", "upper"))
    kw["month"] = _pick(rng, ("full", "abbr", "abbr."))
    kw["month_case"] = _pick(rng, CASES)
    kw["year"] = "4" if layout == "Y M D" else _pick(rng, ("4", "2", "'2"))
    if layout.startswith("the"):
        kw["article_case"] = _pick(rng, CASES)
    return DateFormat(**kw)


def _case(word: str, case: str) -> str:
    return {"lower": word.lower(), "title": word[:1].upper() + word[1:].lower(), "upper": word.upper()}[case]


def _ordinal_suffix(day: int) -> str:
    if 11 <= day % 100 <= 13:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def render_date(date: datetime.date, fmt: DateFormat) -> str:
    """Write ``date`` in format ``fmt``."""
    if fmt.day == "ordinal":
        suffix = _ordinal_suffix(date.day)
        day = f"{date.day}{suffix.upper() if fmt.suffix_case == 'upper' else suffix}"
    else:
        day = f"{date.day:02d}" if fmt.day == "padded" else str(date.day)
    if fmt.numeric:
        month = f"{date.month:02d}" if fmt.month == "padded" else str(date.month)
    else:
        name = MONTHS[date.month - 1]
        month = name if fmt.month == "full" else name[:3] + ("." if fmt.month == "abbr." and name != "May" else "")
        month = _case(month, fmt.month_case)
    year = {"4": f"{date.year}", "2": f"{date.year % 100:02d}", "'2": f"'{date.year % 100:02d}"}[fmt.year]
    if fmt.layout == "D.M.Y":
        text = f"{day}.{month}.{year}"
    elif fmt.layout == "M/D/Y":
        text = f"{month}/{day}/{year}"
    elif fmt.layout == "Y-M-D":
        text = f"{year}-{month}-{day}"
    else:
        text = fmt.layout.replace("D", "\0d").replace("M", "\0m").replace("Y", "\0y")
        text = text.replace("\0d", day).replace("\0m", month).replace("\0y", year)
        if fmt.article_case is not None:
            text = text.replace("the ", _case("the", fmt.article_case) + " ", 1)
            text = text.replace(" of ", " " + _case("of", fmt.article_case) + " ", 1)
    if fmt.weekday != "none":
        name = WEEKDAYS[date.weekday()]
        wd = _case(name if fmt.weekday == "full" else name[:3], fmt.weekday_case)
        text = f"{wd}{fmt.weekday_sep}{text}" if fmt.weekday_position == "front" else f"{text}{fmt.weekday_sep}{wd}"
    return text


def draw_date(rng: np.random.Generator) -> datetime.date:
    """A date uniformly between FIRST and LAST (1950-01-01 .. 2049-12-31)."""
    return datetime.date.fromordinal(int(rng.integers(FIRST.toordinal(), LAST.toordinal() + 1)))


def date_pairs(n: int, seed: int = 0, *, with_formats: bool = False) -> list:
    """``n`` pairs (source, "YYYY-MM-DD"); with ``with_formats``, triples (source, target, DateFormat)."""
    n = check_positive_int("date_pairs", "n", n)
    rng = make_rng("date_pairs", seed)
    out = []
    for _ in range(n):
        date, fmt = draw_date(rng), draw_format(rng)
        src = render_date(date, fmt)
        out.append((src, date.isoformat(), fmt) if with_formats else (src, date.isoformat()))
    return out
