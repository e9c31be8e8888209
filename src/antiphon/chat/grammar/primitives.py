"""The shared JSON rules every schema grammar draws on, written once per grammar.

Names are fixed (`space`, `json-…`) so fragments built separately agree on them; schema
prefixes may therefore not be `space`, `json` or start with `json-`.

Every repetition is bounded except where JSON itself is unbounded (string and array
lengths, object sizes): a small model that likes spaces or digits still has to move on.
"""

from __future__ import annotations

from collections.abc import MutableMapping

_HEX = "[0-9a-fA-F]"
# Any `\u` escape except a surrogate half: each `json-char` is then exactly one code point,
# so minLength/maxLength (counted in code points) hold for the decoded string.
_UNICODE_ESCAPE = f'"u" ([0-9a-cA-CeEfF] {_HEX}{{3}} | [dD] [0-7] {_HEX}{{2}})'

# name -> (body, names of the shared rules the body refers to)
RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    # Up to one newline and 20 spaces or tabs between tokens: indentation, not a runaway.
    # Nothing is written `""`, not as an empty alternative: xgrammar (vLLM's and SGLang's
    # grammar engine) reads llama.cpp's GBNF but refuses an empty alternative.
    "space": ('"" | " " | "\\n" [ \\t]{0,20}', ()),
    # DEL is legal raw in JSON but excluded, as llama.cpp does: models emit it only by mistake.
    "json-raw-char": ('[^"\\\\\\x7F\\x00-\\x1F]', ()),
    "json-char": (f'json-raw-char | "\\\\" (["\\\\/bfnrt] | {_UNICODE_ESCAPE})', ("json-raw-char",)),
    "json-string": ('"\\"" json-char* "\\""', ("json-char",)),
    # Object keys of maps (`additionalProperties` schemas) are written without escapes, so
    # the text of a key is the key and excluding the declared names is exact.
    "json-key": ('"\\"" json-raw-char* "\\""', ("json-raw-char",)),
    "json-integer": ('"-"? ("0" | [1-9] [0-9]{0,15})', ()),
    # The exponent has at most two digits: 1e999 would parse as infinity.
    "json-number": (
        '"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?', ()
    ),
    "json-boolean": ('"true" | "false"', ()),
    "json-null": ('"null"', ()),
    "json-value": (
        "json-object | json-array | json-string | json-number | json-boolean | json-null",
        ("json-object", "json-array", "json-string", "json-number", "json-boolean", "json-null"),
    ),
    "json-object": (
        '"{" space (json-member space ("," space json-member space)*)? "}"',
        ("space", "json-member"),
    ),
    "json-member": ('json-string space ":" space json-value', ("json-string", "json-value")),
    "json-array": (
        '"[" space (json-value space ("," space json-value space)*)? "]"',
        ("space", "json-value"),
    ),
    # Formats. Days are checked against the month (February stops at 28: leap years are
    # beyond a grammar's reach) and years start at 1000, so every date parses in Python.
    "json-date": (
        '[1-9] [0-9]{3} "-" ("0" [13578] "-" json-day-31 | "1" [02] "-" json-day-31'
        ' | "0" [469] "-" json-day-30 | "11-" json-day-30 | "02-" json-day-28)',
        ("json-day-31", "json-day-30", "json-day-28"),
    ),
    "json-day-31": ('"0" [1-9] | [12] [0-9] | "3" [01]', ()),
    "json-day-30": ('"0" [1-9] | [12] [0-9] | "30"', ()),
    "json-day-28": ('"0" [1-9] | "1" [0-9] | "2" [0-8]', ()),
    "json-time": (
        '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})?'
        ' ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])',
        (),
    ),
    "json-date-time": ('json-date "T" json-time', ("json-date", "json-time")),
    # URIs with an authority (scheme://host[:port]/path?query#fragment), every part drawn
    # from RFC 3986's unreserved and sub-delimiter characters or percent-escapes.
    "json-uri": (
        '[a-zA-Z] [a-zA-Z0-9+.-]{0,15} "://" json-uri-host+ (":" [0-9]{1,5})?'
        ' ("/" json-uri-char*)* ("?" (json-uri-char | [/?])*)? ("#" (json-uri-char | [/?])*)?',
        ("json-uri-host", "json-uri-char"),
    ),
    "json-uri-host": ("[a-zA-Z0-9._~!$&'()*+,;=-] | \"%\" [0-9a-fA-F]{2}", ()),
    "json-uri-char": ("json-uri-host | [:@]", ("json-uri-host",)),
    # Dot-atoms at both sides of the @ (RFC 5322 without quoted forms or comments).
    "json-email": (
        "json-email-atom+ (\".\" json-email-atom+)* \"@\" json-email-label"
        ' ("." json-email-label)+',
        ("json-email-atom", "json-email-label"),
    ),
    "json-email-atom": ("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]", ()),
    "json-email-label": ('[a-zA-Z0-9]+ ("-" [a-zA-Z0-9]+)*', ()),
    "json-uuid": (
        f'{_HEX}{{8}} "-" {_HEX}{{4}} "-" {_HEX}{{4}} "-" {_HEX}{{4}} "-" {_HEX}{{12}}', ()
    ),
}

# Length in characters of what each format rule produces, for minLength/maxLength checks.
FORMAT_LENGTHS: dict[str, tuple[int, int | None]] = {
    "date": (10, 10),
    "time": (9, 21),
    "date-time": (20, 32),
    "uuid": (36, 36),
    "uri": (5, None),
    "email": (5, None),
}


def add_shared(rules: MutableMapping[str, str], name: str) -> str:
    """Put shared rule `name` and everything it refers to into `rules`; returns `name`."""
    pending = [name]
    while pending:
        current = pending.pop()
        if current in rules:
            continue
        body, needs = RULES[current]
        rules[current] = body
        pending.extend(needs)
    return name


def is_reserved_prefix(prefix: str) -> bool:
    return prefix in ("root", "space", "json") or prefix.startswith("json-")
