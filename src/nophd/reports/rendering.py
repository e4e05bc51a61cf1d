"""The Jinja2 templates of the run report, the ladder page and MODEL_CARD.md, and the number formats they share.

One environment, built once: templates from nophd/reports/templates, every
`{{ value }}` escaped unless it is deliberately marked safe (markupsafe.Markup),
and an undefined name an error rather than an empty string. HTML templates
(*.html) escape for HTML; Markdown ones (*.md, rendered by `markdown`) escape
for Markdown, so a class name with "|", "*" or "<" shows as written and
neither breaks a table nor becomes HTML.

Leaf-ish: imports only nophd.text and nophd.version, so report.py and
model_card.py both import it.

Example:
    render("ladder.html", rows=[], ...)  # a page, every value escaped
    format_percent(0.99512)              # "99.51%"
"""

from __future__ import annotations

import datetime
import functools
import html
import json
import math
import re
from typing import Any

import jinja2
import markupsafe

from nophd import text, version


def plain_text(value: Any) -> str:
    """A scalar as text; "" for None and for lists or objects."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def finite_number(value: Any) -> float | None:
    """A finite float, or None for None, bools, text, NaN and infinity."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def format_percent(value: Any, decimals: int = 2) -> str:
    """0.99512 -> "99.51%"; anything that is not a number -> "—"."""
    number = finite_number(value)
    return "—" if number is None else f"{number * 100:.{decimals}f}%"


def format_integer(value: Any) -> str:
    """1234567 -> "1,234,567"; anything that is not a number -> "—"."""
    number = finite_number(value)
    return "—" if number is None else f"{round(number):,}"


def format_number(value: Any, pattern: str) -> str:
    """A number through a format pattern ("{:.4f}"); anything that is not a number -> "—"."""
    number = finite_number(value)
    return "—" if number is None else pattern.format(number)


def format_time(value: Any) -> str:
    """An ISO time as "2026-01-31 14:05:09 UTC+01:00"; other text as it is."""
    shown = plain_text(value)
    if not shown:
        return "—"
    try:
        moment = datetime.datetime.fromisoformat(shown)
    except ValueError:
        return shown
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.strftime("%z")
    if offset:
        shown += " UTC" if offset == "+0000" else f" UTC{offset[:3]}:{offset[3:]}"
    return shown


def json_value(value: Any) -> str:
    """A config or version value: strings as they are; numbers, booleans, lists and objects as JSON (true, null, [1, 2])."""
    return value if isinstance(value, str) else json.dumps(value)


def bar_width(value: Any) -> str:
    """A share 0..1 as the width of a bar in percent, "0.0" to "100.0"."""
    number = finite_number(value)
    return f"{0.0 if number is None else min(max(number, 0.0), 1.0) * 100:.1f}"


# Markdown.

# Characters that start or end something anywhere in a line of Markdown (GFM): code, emphasis, links, tables,
# strikethrough, escapes. "_" only counts at a word's edge (snake_case stays readable).
_INLINE_SPECIAL = re.compile(r"([\\`*\[\]|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block at the beginning of a line: a heading, a list item, a quote, a numbered item.
_LINE_START = re.compile(r"^(#|[-+]|\d+[.)])(?=\s|$)")


def escape_markdown(value: Any) -> str:
    """Text as Markdown that shows exactly that text: one line, Markdown's special characters backslash-escaped
    and &, < and > as HTML entities, so nothing in it becomes a table cell, a link, emphasis or HTML.

    Example:
        escape_markdown("a|b <i>")  # "a\\|b &lt;i&gt;"
    """
    line = " ".join(str(value).split())
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _INLINE_SPECIAL.sub(lambda match: "\\" + match.group(0), line)
    return _LINE_START.sub(lambda match: "\\" + match.group(0) if match.group(0)[0] in "#-+" else
                           match.group(0)[:-1] + "\\" + match.group(0)[-1], line)


def code_span(value: Any) -> markupsafe.Markup:
    """Text as a Markdown `code span` fit for a table: one line, no backtick to end it early, "|" escaped for GFM.

    Returned as Markup: it is escaped for Markdown already.
    """
    inside = " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")
    return markupsafe.Markup(f"`{inside}`")


def _escape_html(value: Any) -> Any:
    # html.escape's spelling of quotes (&quot;, &#x27;), as the pages had before templates; autoescaping stays on
    # behind it, and lets Markup (macro output, the style sheet) through unchanged.
    return value if hasattr(value, "__html__") else markupsafe.Markup(html.escape(str(value), quote=True))


def _escape_markdown_value(value: Any) -> Any:
    return value if hasattr(value, "__html__") else escape_markdown(value)


# The reports' shared style sheet, and the same rules scoped under one class for a page of someone else's
# (a notebook's output): the page-wide selectors (:root, body, main) become the scope itself.
_PAGE_SELECTORS = {":root", "body", "main"}


@functools.cache
def style(scope: str | None = None) -> markupsafe.Markup:
    """The reports' CSS (templates/style.css), every rule under `scope` (".nophd-report") when given."""
    css = environment.loader.get_source(environment, "style.css")[0]
    if scope:
        def scoped(match: re.Match) -> str:
            selectors = []
            for selector in (part.strip() for part in match.group(1).split(",")):
                if selector in _PAGE_SELECTORS:
                    selectors.append(scope)
                elif selector == "*":
                    selectors += [scope, f"{scope} *"]
                else:
                    selectors.append(f"{scope} {selector}")
            return ", ".join(dict.fromkeys(selectors)) + " {"

        css = re.sub(r"^([^{}\n][^{}]*?)\s*\{", scoped, css, flags=re.MULTILINE)
    # Markup on purpose: our own style sheet, where quotes and ">" must stay as written inside <style>.
    return markupsafe.Markup(css)


environment = jinja2.Environment(
    loader=jinja2.PackageLoader("nophd.reports", "templates"),
    autoescape=jinja2.select_autoescape(["html"], default_for_string=False, default=False),
    undefined=jinja2.StrictUndefined,
    finalize=_escape_html,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
environment.filters.update(percent=format_percent, integer=format_integer, number=format_number, time=format_time,
                           duration=text.format_duration, plain=plain_text, bar_width=bar_width, json_value=json_value)
environment.globals.update(version=version.__version__, style=style)
# The same templates, filters and globals, escaping for Markdown instead (MODEL_CARD.md). `code` makes a Markdown
# code span, escaped for Markdown only, so only this environment has it: in an HTML page it would let HTML through.
markdown = environment.overlay(finalize=_escape_markdown_value)
markdown.filters = {**environment.filters, "code": code_span}


def render(name: str, **values: Any) -> str:
    """A template of nophd/reports/templates rendered with `values`: *.html for HTML, *.md for Markdown."""
    chosen = markdown if name.endswith(".md") else environment
    return chosen.get_template(name).render(**values)
