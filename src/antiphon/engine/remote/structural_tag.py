"""A lazy grammar in the form vLLM and SGLang take it: an xgrammar structural tag.

llama.cpp applies a lazy grammar from the first trigger word on, and the output may end
without one. xgrammar has no lazy grammars, but a structural tag says the same: either free
text in which no trigger appears, or such text followed by the grammar (whose `root` begins
with a trigger, as ours always does). Checked against xgrammar 0.2.8's matcher: free text
may end anywhere, a trigger commits the rest to the grammar, and nothing may follow it.
"""

from __future__ import annotations

import json

from antiphon.engine.base import Grammar


def lazy_grammar_tag(grammar: Grammar) -> str:
    """The structural tag (a JSON text) for a grammar with lazy triggers."""
    free_text = {"type": "any_text", "excludes": list(grammar.lazy_triggers)}
    rest = {"type": "grammar", "grammar": grammar.gbnf}
    tag = {
        "type": "structural_tag",
        "format": {
            "type": "or",
            "elements": [free_text, {"type": "sequence", "elements": [free_text, rest]}],
        },
    }
    return json.dumps(tag, ensure_ascii=False)
