"""MkDocs hook: Sphinx roles in docstrings (``:func:`name```) become plain code.

The docstrings are numpydoc with Sphinx cross-reference roles; mkdocstrings renders
the role's target as code but leaves the ``:func:`` prefix. This strips it, and a
leading ``~`` keeps only the last dotted part, as Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _plain(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if match.group(1) else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite the roles in a page's HTML."""
    return _ROLE.sub(_plain, html)
