"""Values on the wire between the candidate runner and the judge: plain data only (never imported by srd).

Prepended to ``_runner.py`` and ``_judge.py``, which run as ``python -I -c SOURCE``. ``encode`` turns a
value into JSON-compatible data; ``decode`` rebuilds it from built-in types only (None, bool, int,
float, complex, str, bytes, list, tuple, set, frozenset, dict), so no object of a type the candidate
defined — and so no ``__eq__``, ``__hash__`` or ``__bool__`` of its own — ever reaches the judge.
Subclasses of built-in types (a ``Counter``, a ``namedtuple``, an ``int`` subclass) are converted to
their base type through the base type's own methods; any other object cannot be encoded.
"""

import json


class Unencodable(Exception):
    """A value with no plain-data form (a custom object, a function, a cycle, too deep)."""


_MAX_DEPTH = 100


def encode(x, depth=0):
    if depth > _MAX_DEPTH:
        raise Unencodable("too deep")
    t = type(x)
    if x is None or t is bool or t is int or t is str:
        return x
    if t is float:
        return {"t": "float", "v": float.__repr__(x)}
    if isinstance(x, bool):
        return bool(int.__index__(x))
    if isinstance(x, int):
        return int(int.__repr__(x))
    if isinstance(x, float):
        return {"t": "float", "v": float.__repr__(x)}
    if isinstance(x, str):
        return str.__getitem__(x, slice(None))
    if isinstance(x, complex):
        return {"t": "complex", "v": [complex.real.__get__(x), complex.imag.__get__(x)]}
    if isinstance(x, (bytes, bytearray)):
        return {"t": "bytes", "v": bytes(x).hex()}
    if isinstance(x, dict):
        items = list(dict.items(x))
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in items]}
    for base, tag in ((list, "list"), (tuple, "tuple"), (set, "set"), (frozenset, "frozenset")):
        if isinstance(x, base):
            return {"t": tag, "v": [encode(v, depth + 1) for v in list(base.__iter__(x))]}
    if isinstance(x, range):
        return {"t": "range", "v": [x.start, x.stop, x.step]}
    raise Unencodable(type(x).__name__)


def dumps(x):
    return json.dumps(encode(x), separators=(",", ":"))


_SEQUENCES = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


def decode(x, depth=0):
    """Plain data from ``encode``'s output; anything else raises (ValueError, TypeError, KeyError)."""
    if depth > _MAX_DEPTH + 1:
        raise ValueError("too deep")
    t = type(x)
    if x is None or t is bool or t is int or t is str:
        return x
    if t is not dict or set(x) != {"t", "v"}:
        raise ValueError("not a wire value")
    tag, v = x["t"], x["v"]
    if tag == "float" and type(v) is str:
        return float(v)
    if tag == "complex" and type(v) is list and len(v) == 2 and all(type(p) in (int, float) for p in v):
        return complex(float(v[0]), float(v[1]))
    if tag == "bytes" and type(v) is str:
        return bytes.fromhex(v)
    if tag == "range" and type(v) is list and len(v) == 3 and all(type(p) is int for p in v):
        return range(*v)
    if type(v) is not list:
        raise ValueError("not a wire value")
    if tag == "dict":
        out = {}
        for pair in v:
            if type(pair) is not list or len(pair) != 2:
                raise ValueError("not a wire value")
            out[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
        return out
    return _SEQUENCES[tag](decode(item, depth + 1) for item in v)
