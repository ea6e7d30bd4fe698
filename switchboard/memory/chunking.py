"""Knowledge documents into chunks: Markdown by section, HTML as Markdown-ish text, plain text.

A chunk is a few paragraphs of one section (about ``target`` characters, never more than
``limit``), labelled with the section's heading path so a search hit can be cited as
``document > section``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

TARGET_CHARS = 900
LIMIT_CHARS = 1600

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_BLANK_LINES = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: its section (heading path) and text."""

    seq: int
    section: str
    text: str


class _HtmlText(HTMLParser):
    """HTML to text: headings become Markdown headings, blocks become paragraphs."""

    _BLOCKS = frozenset({"p", "div", "li", "tr", "br", "section", "article", "table", "ul", "ol"})
    _SKIP = frozenset({"script", "style", "head", "nav", "footer", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n" if tag != "li" else "\n\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML page, headings kept as Markdown headings."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _sections(markdown: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs in document order."""
    path: list[tuple[int, str]] = []
    sections: list[tuple[str, str]] = []
    body: list[str] = []
    fenced = False

    def flush() -> None:
        text = "\n".join(body).strip()
        if text:
            sections.append((" > ".join(title for _, title in path), text))
        body.clear()

    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        flush()
        level = len(match.group(1))
        path = [(lvl, title) for lvl, title in path if lvl < level]
        path.append((level, match.group(2)))
    flush()
    return sections


def _split_long(paragraph: str, limit: int) -> list[str]:
    """A paragraph longer than ``limit``, cut at sentence (else word) boundaries."""
    pieces: list[str] = []
    current = ""
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            pieces.append((current + " " + sentence[:cut]).strip() if current else sentence[:cut])
            current, sentence = "", sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def chunk_text(text: str, content_type: str, *, target: int = TARGET_CHARS) -> list[Chunk]:
    """Split a document into chunks of about ``target`` characters, section by section."""
    limit = max(target, LIMIT_CHARS if target == TARGET_CHARS else 2 * target)
    if content_type == "text/html":
        text = html_to_text(text)
    sections = _sections(text) if content_type != "text/plain" else [("", text.strip())]
    chunks: list[Chunk] = []
    for section, body in sections:
        current = ""
        for paragraph in _BLANK_LINES.split(body):
            paragraph = paragraph.strip()
            if not paragraph:
                continue
            for piece in _split_long(paragraph, limit) if len(paragraph) > limit else [paragraph]:
                if current and len(current) + 2 + len(piece) > target:
                    chunks.append(Chunk(len(chunks), section, current))
                    current = piece
                else:
                    current = f"{current}\n\n{piece}" if current else piece
        if current:
            chunks.append(Chunk(len(chunks), section, current))
    return chunks


def content_type_of(filename: str) -> str:
    """The content type a knowledge file is ingested as, by its extension."""
    lowered = filename.lower()
    if lowered.endswith((".md", ".markdown", ".mdx")):
        return "text/markdown"
    if lowered.endswith((".html", ".htm")):
        return "text/html"
    return "text/plain"
