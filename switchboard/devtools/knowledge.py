"""The knowledge base from the command line.

    python -m switchboard.devtools.knowledge add PATH...  # Markdown, text, HTML
    python -m switchboard.devtools.knowledge search "can I return shoes?"
    python -m switchboard.devtools.knowledge list
    python -m switchboard.devtools.knowledge remove NAME

Documents are named by their path relative to the folder given (or their file name), so
adding the same folder again replaces changed documents and skips unchanged ones. The store
is the one ``MEMORY_DATABASE_URL`` names, as for the worker and the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

from switchboard.memory import MemoryStore
from switchboard.memory.chunking import content_type_of
from switchboard.memory.models import DocumentIn
from switchboard.memory.setup import open_memory
from switchboard.runtime.config import get_settings

SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".txt", ".text", ".html", ".htm"})
"""The files a folder contributes; anything else in it is skipped."""


def documents_in(path: Path) -> Iterator[tuple[str, Path]]:
    """(document name, file) for a file, or for every knowledge file under a folder."""
    if path.is_file():
        yield path.name, path
        return
    for file in sorted(path.rglob("*")):
        if file.is_file() and file.suffix.lower() in SUFFIXES:
            yield file.relative_to(path).as_posix(), file


async def _add(store: MemoryStore, paths: list[Path]) -> int:
    total = 0
    for root in paths:
        if not root.exists():
            print(f"error: {root} does not exist", file=sys.stderr)
            return 2
        for name, file in documents_in(root):
            content = file.read_text(encoding="utf-8", errors="replace")
            kind = content_type_of(file.name)
            result = await store.ingest(DocumentIn(name=name, content=content, content_type=kind))
            state = "indexed" if result.changed else "unchanged"
            print(f"{state:9} {name} ({result.chunks} chunks)")
            total += 1
    print(f"{total} document(s)")
    return 0


async def _search(store: MemoryStore, query: str, limit: int) -> int:
    hits = await store.search_knowledge(query, limit)
    if not hits:
        print("no matches")
    for hit in hits:
        source = f"{hit.document} > {hit.section}" if hit.section else hit.document
        print(f"[{hit.score:.4g}] {source}\n    {' '.join(hit.text.split())[:300]}")
    return 0


async def _main(args: argparse.Namespace) -> int:
    store = await open_memory(get_settings())
    try:
        if args.command == "add":
            return await _add(store, [Path(p) for p in args.paths])
        if args.command == "search":
            return await _search(store, args.query, args.limit)
        if args.command == "list":
            for name, chunks in await store.documents():
                print(f"{name} ({chunks} chunks)")
            return 0
        if await store.delete_document(args.name):
            print(f"removed {args.name}")
            return 0
        print(f"error: no document named {args.name!r}", file=sys.stderr)
        return 1
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run it; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m switchboard.devtools.knowledge", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="ingest files or folders (replaces changed documents)")
    add.add_argument("paths", nargs="+")
    search = commands.add_parser("search", help="search the knowledge base")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=5)
    commands.add_parser("list", help="list the documents")
    remove = commands.add_parser("remove", help="remove a document by name")
    remove.add_argument("name")
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
