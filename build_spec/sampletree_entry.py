"""Entry point of the frozen app (PyInstaller runs this file as ``__main__``).

``freeze_support()`` must come first: the scanner's decoder processes are started with
``spawn`` in a frozen app, and each one is this executable run again with multiprocessing's
arguments, which ``freeze_support()`` recognises and serves before any of the app runs.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()

    from app.cli import main

    sys.exit(main())
