"""A run's MODEL_CARD.md as HTML for the run page, rendered here so that nothing in the file reaches the page as HTML.

The card is Markdown (nophd.reports.model_card writes it; a user may have
written their own). It is rendered with markdown-it-py, CommonMark plus GFM
tables and strikethrough, with raw HTML turned off: a `<script>` or an
`<img onerror=...>` in the file comes out as the text it is, escaped. Links
keep markdown-it's check (no javascript:, vbscript:, file: or data: URLs);
images are not rendered at all (a card needs none, and the page loads
nothing from elsewhere). nophd's own first-line mark (an HTML comment) is
dropped rather than shown as text.

Example:
    html = render(Path("runs/conv-bn/MODEL_CARD.md").read_text())
"""

from __future__ import annotations

import functools

from nophd import runs


@functools.cache
def _renderer():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]).disable("image")


def render(markdown: str) -> str:
    """The card's HTML: every character of the file escaped unless it is Markdown syntax.

    Args:
        markdown: MODEL_CARD.md's text.

    Example:
        render("# Card\\n\\n| a | b |\\n|---|---|\\n| <i> | 1 |")  # "<h1>Card</h1>\\n<table>...&lt;i&gt;..."
    """
    lines = markdown.splitlines()
    if lines and lines[0].startswith(runs.MODEL_CARD_MARK):
        lines = lines[1:]
    return _renderer().render("\n".join(lines))
