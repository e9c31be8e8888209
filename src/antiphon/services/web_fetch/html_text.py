"""HTML → the readable text of a page, for a model to read.

The standard library's tolerant `html.parser` is enough: the model needs the words in reading
order with their structure (headings as `#`, list items as `-`, table rows as `a | b`), not a
layout. What a reader never sees is dropped: scripts, styles, templates, hidden elements and
the page's chrome (navigation, sidebars, footers). Link text stays; link targets do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_DROPPED = frozenset({
    "script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object",
    "nav", "aside", "footer", "button", "select", "dialog",
})
# Elements whose end tag may be left out: an unclosed `<p hidden>` must not hide the rest.
_OPTIONAL_END = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option", "colgroup"})
_VOID = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr",
})
_BLOCKS = frozenset({
    "address", "article", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "ol", "p", "pre", "section", "summary", "table", "tr", "ul",
})
# Consecutive lines of one of these kinds share no blank line: list items, table rows, terms.
_TIGHT = {"li": "li", "tr": "tr", "dd": "dl", "dt": "dl"}
_SPACE = re.compile(r"\s+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


@dataclass(frozen=True)
class HtmlText:
    title: str | None
    text: str


def _hidden(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    if tag in _DROPPED:
        return True
    if tag in _OPTIONAL_END or tag in _VOID:
        return False
    found = dict(attrs)
    return (
        "hidden" in found
        or found.get("aria-hidden") == "true"
        or found.get("role") == "navigation"
        or bool(_HIDDEN_STYLE.search(found.get("style") or ""))
    )


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.lines: list[tuple[str, bool]] = []  # (line, blank line before it)
        self._parts: list[str] = []
        self._prefix = ""
        self._tight: str | None = None  # the open block's _TIGHT kind
        self._prev_tight: str | None = None
        self._after_br = False
        self._skipping: str | None = None
        self._skip_depth = 0
        self._in_title = False
        self._pre_depth = 0
        self._list_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping is not None:
            if tag == self._skipping:
                self._skip_depth += 1
            return
        if tag == "title" and not self.title:
            self._in_title = True
        elif tag == "title" or _hidden(tag, attrs):  # the first title is the page's
            self._skipping, self._skip_depth = tag, 1
        elif tag == "br":
            self._line_break()
        elif tag in ("td", "th") and "".join(self._parts).strip():
            self._parts.append(" | ")
        elif tag in _BLOCKS:
            self._start_block(tag)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """`<![foo[` makes the standard parser raise AssertionError; skip such markup instead."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i)
            return -1 if end < 0 else end + 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self._skipping is None:
            self._line_break()
        elif tag in _BLOCKS:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def _start_block(self, tag: str) -> None:
        self._flush()
        self._tight = _TIGHT.get(tag)
        if tag in ("ul", "ol"):
            self._list_depth += 1
        elif tag == "li":
            self._prefix = "  " * max(self._list_depth - 1, 0) + "- "
        elif tag[0] == "h" and tag[1:].isdigit():
            self._prefix = "#" * int(tag[1]) + " "
        elif tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._skipping is not None:
            if tag == self._skipping:
                self._skip_depth -= 1
                self._skipping = self._skipping if self._skip_depth else None
            return
        if tag == "title":
            self._in_title = False
        elif tag in _BLOCKS:
            self._flush()
            self._prefix = ""
            self._tight = None
            if tag in ("ul", "ol"):
                self._list_depth = max(self._list_depth - 1, 0)
            elif tag == "pre":
                self._pre_depth = max(self._pre_depth - 1, 0)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif self._skipping is None:
            self._parts.append(data)

    def _line_break(self) -> None:
        if self._flush():
            self._after_br = True

    def _flush(self) -> bool:
        """Ends the current line; a blank line separates it from the previous one unless both
        are items of one kind (list items, table rows) or a `<br>` split them. False: empty."""
        raw = "".join(self._parts)
        self._parts = []
        text = raw.strip("\n").rstrip() if self._pre_depth else _SPACE.sub(" ", raw).strip()
        if not text:
            return False
        blank_before = not (self._after_br or (self._tight and self._tight == self._prev_tight))
        self.lines.append((self._prefix + text, blank_before))
        self._prefix, self._prev_tight, self._after_br = "", self._tight, False
        return True

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(html: str) -> HtmlText:
    """The page's `<title>` (None if it has none) and its readable text."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    chunks: list[str] = []
    for line, blank_before in collector.lines:
        if chunks:
            chunks.append("\n\n" if blank_before else "\n")
        chunks.append(line)
    title = _SPACE.sub(" ", "".join(collector.title)).strip()
    return HtmlText(title or None, "".join(chunks))
