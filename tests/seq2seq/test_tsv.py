"""TSV pairs: each malformed file is refused with one line naming the file and the line."""

import pytest

from rnnkit.tasks.tsv import read_tsv, write_tsv


def _write(tmp_path, content: bytes, name="pairs.tsv"):
    p = tmp_path / name
    p.write_bytes(content)
    return p


def test_reads_pairs(tmp_path):
    p = _write(tmp_path, b"24.11.26\t2026-11-24\r\nNov 1, 1999\t1999-11-01")
    assert read_tsv(p, level="char") == [("24.11.26", "2026-11-24"), ("Nov 1, 1999", "1999-11-01")]
    q = tmp_path / "round.tsv"
    write_tsv(q, [("a b", "c"), ("d", "e f")])
    assert read_tsv(q, level="word") == [("a b", "c"), ("d", "e f")]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"a\tb\n\nc\td\n", r"pairs.tsv: line 2: empty line \(expected source<TAB>target\)$"),
        (b"a\tb\nc\td\n\n", r"pairs.tsv: line 3: empty line"),
        (b"a\tb\nc d\n", r"pairs.tsv: line 2: no tab \(expected source<TAB>target\)$"),
        (b"a\tb\tc\n", r"pairs.tsv: line 1: 2 tabs"),
        (b"a\tb\n\tc\n", r"pairs.tsv: line 2: empty source$"),
        (b"a\t \n", r"pairs.tsv: line 1: empty target$"),
        (b"", r"pairs.tsv: empty file"),
        (b"\n  \n", r"pairs.tsv: empty file"),
        (b"a\tb\nc\td\n\xff\xfe\tx\n", r"pairs.tsv: line 3: not UTF-8 \(byte 0xff at offset 8\)"),
        (b"a\tb\n" + b"x" * 11 + b"\ty\n", r"pairs.tsv: line 2: source too long: 11 characters, the limit is 10"),
        (b"a\t" + b"y" * 12 + b"\n", r"pairs.tsv: line 1: target too long: 12 characters, the limit is 10"),
    ],
)
def test_one_line_errors(tmp_path, content, message):
    p = _write(tmp_path, content)
    with pytest.raises(ValueError, match=message) as info:
        read_tsv(p, level="char", max_source_length=10, max_target_length=10)
    assert "\n" not in str(info.value) and str(p) in str(info.value)


def test_word_level_limit_counts_words(tmp_path):
    p = _write(tmp_path, b"a b c\tx\n")
    assert read_tsv(p, level="word", max_source_length=3) == [("a b c", "x")]
    with pytest.raises(ValueError, match="line 1: source too long: 3 words, the limit is 2"):
        read_tsv(p, level="word", max_source_length=2)


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv: no such file"):
        read_tsv(tmp_path / "nope.tsv", level="char")
    p = _write(tmp_path, b"a\tb\n")
    with pytest.raises(ValueError, match="read_tsv: level must be one of 'char', 'word', got 'byte'"):
        read_tsv(p, level="byte")
    with pytest.raises(ValueError, match="write_tsv: pair 0: target must be a non-empty str"):
        write_tsv(tmp_path / "w.tsv", [("a", "b\tc")])
