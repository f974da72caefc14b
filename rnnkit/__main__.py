"""``python -m rnnkit``: the command line (``rnnkit.cli.main``). Importing this module does nothing."""

import sys

from rnnkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
