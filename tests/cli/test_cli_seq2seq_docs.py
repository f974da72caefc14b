"""Every ``rnnkit seq2seq`` command shown in docs/seq2seq.md parses with today's flags."""

import re
import shlex
from pathlib import Path

from rnnkit.cli import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "seq2seq.md"


def test_documented_commands_parse():
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    blocks = [re.sub(r"\\\n\s*", " ", b) for b in blocks]  # join continued lines
    commands = [
        line[line.index("rnnkit seq2seq") :] for b in blocks for line in b.splitlines() if "rnnkit seq2seq" in line
    ]
    assert len(commands) >= 10
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command, comments=True)[1:]
        args = parser.parse_args(argv)
        assert args.command == "seq2seq" and args.seq2seq_command in ("train", "translate", "eval"), command
