"""The one HTML page of the harness, rendered from jinja2 templates in harness/templates.

Shared by the report (`harness.report`), the diff page (`harness.diff_page`) and the fuzz findings
page (`harness.fuzz.page`), which import this module and not each other. The page is
self-contained: the CSS and the script are inlined from the templates folder; what a template
shows comes from the view objects it is given.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache, lru_cache
from pathlib import Path

from markupsafe import Markup

from harness.formatting import (
    STATUS_COLORS,
    fmt,
    legend_gradient,
    num_cell,
    ratio_cell,
    ratio_color,
    status_css,
)
from harness.status import Status

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_TITLE = "Convolution equivalence report"


@cache
def static_text(name: str) -> Markup:
    """A static file of the templates folder (the page's CSS, its script), inlined as it is."""
    return Markup((TEMPLATES / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def jinja_env():
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["fmt"] = fmt
    env.filters["id"] = id
    env.globals.update(status_colors=STATUS_COLORS, Status=Status, ratio_color=ratio_color, num_cell=num_cell,
                       ratio_cell=ratio_cell, static=static_text, status_css=Markup(status_css()),
                       legend_gradient=legend_gradient())
    return env


def render_page(report=None, diff: dict | None = None, title: str = DEFAULT_TITLE, generated: str | None = None,
                fuzz=None) -> str:
    """The page: a results report (`harness.report.page.Report`), a diff
    (`harness.diff_page.diff_context`), or both; or a fuzz campaign's findings
    (`harness.fuzz.page.FindingsView`)."""
    generated = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return jinja_env().get_template("page.html.j2").render(report=report, diff=diff, fuzz=fuzz, title=title,
                                                            generated=generated)
