"""The date-normalisation task: an independent parser reads every source back; formats, seeds, held-out formats."""

import datetime
import doctest
import re

import pytest

from rnnkit.tasks import dates as dates_module
from rnnkit.tasks.dates import LAYOUTS, DateFormat, date_pairs, draw_format, render_date

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FULL_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FULL_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]


def _year(text):
    if len(text) == 4:
        return int(text)
    yy = int(text.lstrip("'"))
    return 1900 + yy if yy >= 50 else 2000 + yy


def parse(source):
    """Read a date back from its written form, written from the task's description (not its code).

    Returns (date, weekday index or None)."""
    s = source.lower()
    weekday = None
    for word in re.findall(r"[a-z]+", s):
        if word in FULL_DAYS:
            weekday = FULL_DAYS.index(word)
        elif word in DAYS:
            weekday = DAYS.index(word)
    numeric = re.search(r"('?\d+)([./-])(\d+)\2('?\d+)", s)
    if numeric:
        a, sep, b, c = numeric.groups()
        if sep == ".":
            d, m, y = a, b, c
        elif sep == "/":
            m, d, y = a, b, c
        else:
            y, m, d = a, b, c
        return datetime.date(_year(y), int(m), int(d)), weekday
    month = None
    words = re.findall(r"[a-z]+", s)
    for w in words:
        if w in FULL_MONTHS or (w in MONTHS and w not in ("the", "of")):
            month = (FULL_MONTHS.index(w) if w in FULL_MONTHS else MONTHS.index(w)) + 1
    numbers = re.findall(r"'?\d+", s)
    assert month is not None and len(numbers) == 2, source
    if len(numbers[0]) == 4:
        year, day = numbers
    else:
        day, year = numbers
    return datetime.date(_year(year), month, int(day)), weekday


def test_every_target_is_the_written_date_and_every_weekday_is_true():
    pairs = date_pairs(5000, seed=11)
    with_weekday = 0
    for source, target in pairs:
        date, weekday = parse(source)
        assert date.isoformat() == target, source
        if weekday is not None:
            with_weekday += 1
            assert weekday == date.weekday(), f"{source}: weekday {weekday}, the date is a {date:%A}"
        assert datetime.date(1950, 1, 1) <= date <= datetime.date(2049, 12, 31)
    assert with_weekday > 2000  # two thirds of the formats carry a weekday


def test_the_formats_people_write():
    d = datetime.date(2026, 11, 24)
    cases = [
        (
            DateFormat(
                "D M Y",
                weekday="full",
                weekday_position="front",
                weekday_sep=" ",
                weekday_case="lower",
                month="full",
                month_case="lower",
            ),
            "tuesday 24 november 2026",
        ),
        (DateFormat("D.M.Y", month="plain", year="2"), "24.11.26"),
        (DateFormat("M D, Y", month="abbr", month_case="title"), "Nov 24, 2026"),
        (
            DateFormat(
                "the D of M, Y",
                day="ordinal",
                suffix_case="lower",
                month="full",
                month_case="title",
                article_case="lower",
            ),
            "the 24th of November, 2026",
        ),
        (DateFormat("M/D/Y", day="padded", month="padded", year="2"), "11/24/26"),
        (DateFormat("Y-M-D", day="plain", month="plain"), "2026-11-24"),
        (
            DateFormat(
                "D M Y",
                weekday="abbr",
                weekday_position="back",
                weekday_sep=", ",
                weekday_case="upper",
                day="ordinal",
                suffix_case="upper",
                month="abbr.",
                month_case="upper",
                year="'2",
            ),
            "24TH NOV. '26, TUE",
        ),
    ]
    for fmt, expected in cases:
        assert render_date(d, fmt) == expected
    assert (
        render_date(
            datetime.date(2001, 5, 3),
            DateFormat("D M Y", day="ordinal", suffix_case="lower", month="abbr.", month_case="title"),
        )
        == "3rd May 2001"
    )
    for day, suffix in (
        (1, "st"),
        (2, "nd"),
        (3, "rd"),
        (4, "th"),
        (11, "th"),
        (12, "th"),
        (13, "th"),
        (21, "st"),
        (22, "nd"),
        (23, "rd"),
        (31, "st"),
    ):
        fmt = DateFormat("D M Y", day="ordinal", suffix_case="lower", month="full", month_case="lower")
        assert render_date(datetime.date(2000, 1, day), fmt) == f"{day}{suffix} january 2000"


def test_every_choice_is_drawn():
    formats = [f for *_, f in date_pairs(3000, seed=5, with_formats=True)]
    assert {f.layout for f in formats} == set(LAYOUTS)
    for name, values in {
        "weekday": {"none", "full", "abbr"},
        "weekday_case": {None, "lower", "title", "upper"},
        "weekday_position": {None, "front", "back"},
        "day": {"plain", "padded", "ordinal"},
        "month": {"plain", "padded", "full", "abbr", "abbr."},
        "month_case": {None, "lower", "title", "upper"},
        "year": {"4", "2", "'2"},
        "article_case": {None, "lower", "title", "upper"},
    }.items():
        assert {getattr(f, name) for f in formats} == values, name


def test_seeded():
    assert date_pairs(200, seed=3) == date_pairs(200, seed=3)
    assert date_pairs(200, seed=3) != date_pairs(200, seed=4)


def test_held_out_formats_combine_parts_seen_in_training():
    train = {f for *_, f in date_pairs(20000, seed=0, with_formats=True)}
    test = [f for *_, f in date_pairs(2000, seed=1, with_formats=True)]
    unseen = [f for f in test if f not in train]
    assert len(unseen) >= 200, f"only {len(unseen)} of 2000 test formats are new"
    seen_parts = {(k, v) for f in train for k, v in f.parts().items()}
    seen_pairs_of_parts = {(a, b) for f in train for a in f.parts().items() for b in f.parts().items()}
    for f in unseen:
        assert set(f.parts().items()) <= seen_parts  # every single choice was seen ...
    # ... and most new formats are new only as a whole, each pair of their choices seen together
    assert sum(
        {(a, b) for a in f.parts().items() for b in f.parts().items()} <= seen_pairs_of_parts for f in unseen
    ) > 0.9 * len(unseen)


def test_draw_format_only_makes_valid_choices():
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(2000):
        f = draw_format(rng)
        if f.numeric:
            assert f.day in ("plain", "padded") and f.year in ("4", "2") and f.month_case is None
        if f.layout.startswith("the"):
            assert f.day == "ordinal" and f.article_case is not None
        if f.layout == "Y M D":
            assert f.year == "4"
        assert (f.weekday == "none") == (f.weekday_case is None)


def test_bad_arguments():
    with pytest.raises(ValueError, match="date_pairs: n must be >= 1, got 0"):
        date_pairs(0)
    with pytest.raises(TypeError, match="date_pairs: seed"):
        date_pairs(3, seed="x")


def test_doctest():
    assert doctest.testmod(dates_module).failed == 0
