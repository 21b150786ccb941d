"""Compact JSON for what the store keeps every turn: the state and the transcript lines.

`json.dumps` with options builds a new encoder on every call, and by default checks for
cycles: together a third of what encoding a small turn value costs. One encoder, made
once, serves every turn; these values are plain data and never hold a cycle.
"""

from __future__ import annotations

import json

# Unicode kept as it is (half the bytes of \\u escapes for Chinese), no spaces.
compact_json = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), check_circular=False
).encode
# A str as compact_json writes it, quotes included: for values encoded by hand.
json_string = json.encoder.encode_basestring
