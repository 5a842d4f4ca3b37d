"""Build the real-sample validation set: ``python scripts/build_realset.py [--out DIR]``.

The same as ``python -m models.realset build``; see ``models/realset.py`` for the packages
it reads and how to fetch them (nothing is downloaded here).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.realset import main

if __name__ == "__main__":
    sys.exit(main(["build", *sys.argv[1:]]))
