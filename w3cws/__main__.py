"""``python -m w3cws``: the command line of :mod:`w3cws._cli`."""

import sys

from w3cws._cli import main

if __name__ == "__main__":
    sys.exit(main())
