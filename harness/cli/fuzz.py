"""`harness fuzz`: a differential fuzzing campaign over the case vocabulary, into a findings folder
(harness.fuzz): YAML cases, repro scripts, findings.json and the findings page (index.html)."""

from __future__ import annotations

import argparse
import re

from harness.case import DTYPES

NAME, HELP = "fuzz", "draw configurations, run them through the frameworks, shrink and keep what fails"
UNITS = {"s": 1, "m": 60, "h": 3600}


def duration(text: str) -> float:
    """--budget: 90, 90s, 10m, 1h30m."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip() or float(parts[0][0]) <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 10m or 1h30m, got {text!r}")
    return sum(float(n) * UNITS[u or "s"] for n, u in parts)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from harness.cli.run import jobs, positive
    from harness.fuzz import ENGINES, OPS

    p.add_argument("-f", "--framework", action="append", help="only this framework (repeatable; default: every "
                   "installed one)")
    p.add_argument("--op", action="append", choices=OPS, help="only this op (repeatable)")
    p.add_argument("-d", "--dtype", action="append", choices=DTYPES, help="only this dtype (repeatable)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--budget", type=duration, help="stop after this long (90s, 10m, 1h; default 10m)")
    size.add_argument("--examples", type=positive, help="stop after this many draws")
    p.add_argument("--seed", type=int, default=0, help="the campaign's seed (default 0): the same seed and draw "
                   "count give the same findings")
    p.add_argument("-o", "--output", default="findings", help="the findings folder (default findings/); a rerun on "
                   "the same folder resumes")
    p.add_argument("--include-known", action="store_true", help="keep failures the harness already expects "
                   "(adapters' known issues, the library's xfails) as findings too")
    p.add_argument("--engine", choices=ENGINES, default="local", help="local worker processes, or a Ray cluster")
    p.add_argument("--address", help="the Ray cluster's HOST:PORT (default: start a local Ray)")
    p.add_argument("--gpus-per-task", type=float, default=0.0, help="with --engine ray: the GPUs each task asks for "
                   "(e.g. 0.25: four tasks share a GPU); Ray hides the GPUs from tasks that ask for none")
    p.add_argument("-j", "--jobs", type=jobs, default="auto", help="workers (default: one per CPU core)")
    p.add_argument("--library", action="append", help="the case library that holds known xfails (default: cases)")


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from harness.fuzz import OPS, FuzzError

    console = Console(stderr=True)
    try:
        from harness.fuzz import engine
        from harness.fuzz.campaign import Campaign, Options
    except ImportError as exc:
        console.print(f"[red]harness fuzz needs {exc.name}: pip install 'conv-harness[fuzz]'[/red]")
        return 2
    if (args.address or args.gpus_per_task) and args.engine != "ray":
        console.print("[red]--address and --gpus-per-task need --engine ray[/red]")
        return 2
    options = Options(out=Path(args.output), frameworks=args.framework, ops=tuple(args.op or OPS),
                      dtypes=tuple(args.dtype or DTYPES), examples=args.examples,
                      budget_s=args.budget if args.budget or args.examples else 600.0, seed=args.seed,
                      include_known=args.include_known, library=tuple(args.library or ["cases"]))
    try:
        campaign = Campaign(options, None)  # checks the folder before any worker starts
        campaign.engine = engine.start(args.engine, args.jobs, args.address, args.gpus_per_task)
    except FuzzError as exc:
        console.print(f"[red]harness fuzz: {exc}[/red]")
        return 2
    return _run(campaign, console)


def _run(campaign, console) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    o = campaign.o
    total = float(o.examples or o.budget_s)
    interrupted = False
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TextColumn("left"),
                  TimeRemainingColumn(), console=console, transient=not console.is_terminal) as bar:
        task = bar.add_task("starting the workers", total=total)

        def show(c) -> None:
            s = c.stats
            rate = s.draws / s.seconds if s.seconds else 0.0
            done = s.draws if o.examples else min(s.seconds, total)
            bar.update(task, completed=done, description=f"{s.draws} draws ({rate:.1f}/s) · "
                       f"{len(c.new_findings)} new, {len(c.store.findings) - len(c.new_findings)} known findings")

        campaign.progress = show
        try:
            campaign.run()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            campaign.engine.close()
    return _finish(campaign, console, interrupted)


def _finish(campaign, console, interrupted: bool) -> int:
    from rich.table import Table

    from harness.fuzz.page import write_page

    s = campaign.stats
    table = Table(title=f"findings in {campaign.o.out}")
    for column in ("id", "signature", "hits", "repro"):
        table.add_column(column)
    for f in campaign.store.findings:
        repro = {1: "reproduces", 0: "does not reproduce"}.get(f.repro_exit, f.repro_note[:40] or "-")
        table.add_row(f.id, ("(known) " if f.known else "") + f.signature, str(f.hits), repro)
    console.print(table)
    page = write_page(campaign.o.out)
    console.print(f"{'interrupted after ' if interrupted else ''}{s.draws} draws ({s.runs} distinct, {s.items} items) "
                  f"in {s.seconds:.0f} s on {campaign.engine.workers} {campaign.engine.name} worker(s): "
                  f"{len(campaign.new_findings)} new finding(s); {s.known} failure(s) the harness expects; "
                  f"findings page {page}", highlight=False)
    if interrupted:
        return 130
    return 1 if campaign.new_findings else 0
