"""Render the report's blocks as Markdown, as self-contained HTML, and to the terminal."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str  # plain text; `code` spans and **bold** are kept as is in Markdown


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame


@dataclass(frozen=True)
class Image:
    path: Path
    alt: str


Block = Heading | Text | Table | Image


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown(blocks: list[Block], out_dir: Path) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            frame = block.frame
            lines.append("| " + " | ".join(_md_cell(c) for c in frame.columns) + " |")
            lines.append("|" + "|".join("---" for _ in frame.columns) + "|")
            lines += [
                "| " + " | ".join(_md_cell(v) for v in row) + " |"
                for row in frame.itertuples(index=False)
            ]
            lines.append("")
        else:
            lines += [f"![{block.alt}]({block.path.relative_to(out_dir).as_posix()})", ""]
    return "\n".join(lines)


STYLE = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f2f2f2}
img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:0 3px}"""


def _inline(text: str) -> str:
    """Escape text and turn `code` spans into <code> (the only inline markup the report uses)."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)).replace(
        "**", ""
    )


def html_page(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Text):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(block.frame.to_html(index=False, border=0, escape=True))
        else:  # embedded, so the page is one self-contained file
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            body.append(
                f'<p><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></p>'
            )
    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def terminal(frame: pd.DataFrame, title: str) -> None:
    """Print a table with rich (aligned, wrapped to the terminal width)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text as RichText  # plain text: "[0.91, 0.95]" is not markup

    table = RichTable(title=title, box=box.SIMPLE_HEAD)
    for column in frame.columns:
        table.add_column(RichText(str(column)), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(RichText(str(v)) for v in row))
    console = Console()  # piped output (logs, CI) gets a wide fixed width instead of 80
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
