# This file is generated from book/chapters/a4f_cli.md by tools/export.py. Do not edit it:
# edit the chapter, then run `python tools/export.py`.


# %% book/chapters/a4f_cli.md: statements
"""`python -m vqlit`: see vqlit.cli."""
import sys

from vqlit.cli import main

if getattr(__spec__, "name", None) == "vqlit.__main__":    # `python -m vqlit`, not this notebook
    sys.exit(main())


__all__ = []
