"""Run operators again over stored conversations, with a progress bar.

``python -m switchboard.devtools.reanalyze topic sentiment --from 2026-11-01`` (or
``make reanalyze OPS="topic sentiment"``) starts a re-analysis on the Temporal server the
environment names (``TEMPORAL_ADDRESS``, as the worker does) and follows it until it ends;
Ctrl-C stops following, not the re-analysis (``--cancel ID`` stops it, ``--follow ID``
follows it again). The work runs in the workers' ``ReanalysisWorkflow``: this command only
starts it and reads its progress, so closing the terminal loses nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import TextIO

from pydantic import ValidationError

from switchboard.agent import load_agent
from switchboard.contract.reanalysis import (
    ReanalysisProgress,
    ReanalysisRequest,
    ReanalysisStatus,
)
from switchboard.devtools.run import use_local_payload_keys
from switchboard.intelligence import load_operators
from switchboard.runtime.config import Settings, get_settings
from switchboard.runtime.temporal import connect
from workflows.reanalysis_control import Reanalyses, new_reanalysis_id, valid_reanalysis_id

_BAR = 30


def progress_line(progress: ReanalysisProgress) -> str:
    """One line: a bar, counts, the rate, results and failures."""
    total = progress.total
    if total is None:
        return f"{progress.id}: counting conversations…"
    share = progress.done / total if total else 1.0
    filled = round(share * _BAR)
    bar = "#" * filled + "." * (_BAR - filled)
    line = (
        f"[{bar}] {progress.done}/{total} {share:4.0%}  {progress.rate:6.1f} conv/s  "
        f"results {progress.results}  failed {progress.failed}  skipped {progress.skipped}"
    )
    if progress.missing:
        line += f"  missing {progress.missing}"
    return line


async def follow(
    reanalyses: Reanalyses, reanalysis_id: str, out: TextIO, *, interval: float = 0.5
) -> ReanalysisProgress | None:
    """Print progress until the re-analysis ends; its last progress (None: no such one)."""
    tty = out.isatty()
    printed_at = 0.0
    loop = asyncio.get_running_loop()
    while True:
        progress = await reanalyses.progress(reanalysis_id)
        if progress is None:
            return None
        ended = progress.status is not ReanalysisStatus.RUNNING
        if tty:
            out.write("\r" + progress_line(progress) + ("\n" if ended else ""))
            out.flush()
        elif ended or loop.time() - printed_at >= 5:  # a log file gets a line now and then
            out.write(progress_line(progress) + "\n")
            printed_at = loop.time()
        if ended:
            return progress
        await asyncio.sleep(interval)


def _time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _request(args: argparse.Namespace, settings: Settings) -> ReanalysisRequest:
    known = {op.name for op in load_operators(settings, load_agent(settings))}
    if unknown := [name for name in args.operators if name not in known]:
        raise SystemExit(f"unknown operator {unknown[0]!r} (known: {', '.join(sorted(known))})")
    try:
        return ReanalysisRequest(
            operators=args.operators,
            start=_time(args.start) if args.start else None,
            end=_time(args.end) if args.end else None,
            customer=args.customer,
            limit=args.limit,
            concurrency=args.concurrency,
            batch=args.batch,
            force=args.force,
        )
    except (ValidationError, ValueError) as exc:
        raise SystemExit(f"reanalyze: {exc}") from exc


async def _main(args: argparse.Namespace) -> int:
    use_local_payload_keys()
    settings = get_settings()
    if not settings.intelligence:
        print("conversation intelligence is off (INTELLIGENCE=false)", file=sys.stderr)
        return 2
    reanalyses = Reanalyses(await connect(settings), settings.analysis_task_queue)
    if args.cancel or args.follow:
        reanalysis_id = args.cancel or args.follow
        if not valid_reanalysis_id(reanalysis_id):
            print(f"not a re-analysis id: {reanalysis_id!r}", file=sys.stderr)
            return 2
        if args.cancel:
            if not await reanalyses.cancel(reanalysis_id):
                print(f"no running re-analysis {reanalysis_id}", file=sys.stderr)
                return 1
            print(f"cancelling {reanalysis_id}")
            return 0
    else:
        if not args.operators:
            print("name at least one operator (or --follow / --cancel an id)", file=sys.stderr)
            return 2
        reanalysis_id = new_reanalysis_id()
        await reanalyses.start(_request(args, settings), reanalysis_id)
        print(f"re-analysis {reanalysis_id} started ({', '.join(args.operators)})")
        if args.detach:
            return 0
    progress = await follow(reanalyses, reanalysis_id, sys.stdout)
    if progress is None:
        print(f"no re-analysis {reanalysis_id}", file=sys.stderr)
        return 1
    print(f"{progress.status}: {progress.analysed} analysed, {progress.skipped} skipped")
    return 0 if progress.status is ReanalysisStatus.COMPLETED else 1


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("operators", nargs="*", help="operators to run again, by name")
    parser.add_argument("--from", dest="start", help="closed at or after (ISO-8601, UTC)")
    parser.add_argument("--to", dest="end", help="closed before (ISO-8601, UTC)")
    parser.add_argument("--customer", help="only this customer's conversations (E.164)")
    parser.add_argument("--limit", type=int, help="at most this many conversations")
    parser.add_argument("--concurrency", type=int, default=4, help="batches at once (4)")
    parser.add_argument("--batch", type=int, default=25, help="conversations per batch (25)")
    parser.add_argument(
        "--force", action="store_true", help="analyse runs that hold the current version too"
    )
    parser.add_argument("--detach", action="store_true", help="start it and print its id")
    parser.add_argument("--follow", metavar="ID", help="follow a running re-analysis")
    parser.add_argument("--cancel", metavar="ID", help="stop a running re-analysis")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        print("\nstopped following; the re-analysis goes on", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
