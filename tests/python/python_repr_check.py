"""Reference for dwipack::python_repr: print repr() of each JSON file as Python's json.load reads it.

Usage: python3 python_repr_check.py FILE...   (one line of UTF-8 per file, in argument order)
This is what dwi_ml writes as the `groups_config` attribute: str(json.load(open(config_file))).
"""
import json
import sys

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        value = json.load(f)
    # Write bytes: the C/POSIX locale must not turn non-ASCII text into an encoding error.
    sys.stdout.buffer.write(repr(value).encode("utf-8") + b"\n")
