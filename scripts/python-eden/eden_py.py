"""The Python eden's CLI (aws-eden-cli), started as its `eden` script starts it, for eden-bench.

`shim.py` first (the endpoint, what moto omits, the optional in-process delay); nothing else.
"""
import sys

import shim  # noqa: F401

from aws_eden_cli.cmdline import main  # noqa: E402  (its clients are made at import)

main(sys.argv[1:])
