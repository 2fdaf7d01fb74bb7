"""The ``advqa`` command line."""
from __future__ import annotations

import json
import logging
import sys

import click

from advqa import __version__
from advqa.errors import AdvqaError

log = logging.getLogger("advqa")


class _Group(click.Group):
    """Turns advqa errors into one-line messages (``--debug`` shows the traceback)."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except AdvqaError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"advqa: error: {exc}", err=True)
            ctx.exit(2)
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"advqa: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="advqa")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logging.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, verbose: int) -> None:
    """Attack, defend and benchmark no-reference video quality models.

    \b
    Start with:
      advqa run                 robustness evaluation on the built-in demo data
      advqa models              list the quality models and their cards
      advqa score VIDEO...      score video files with a model
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    level = logging.DEBUG if debug or verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON.")
def models(as_json: bool) -> None:
    """List the registered quality models with their cards."""
    from advqa.models import available, card
    from advqa.models.base import describe

    cards = [card(name) for name in available()]
    if as_json:
        click.echo(json.dumps([describe(c) for c in cards], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="advqa quality models")
    for col in ("name", "paper", "score range", "higher better", "weights / licence"):
        table.add_column(col)
    for c in cards:
        lo, hi = c.score_range
        table.add_row(c.name, c.paper, f"{lo:g} .. {hi:g}", "yes" if c.higher_is_better else "no", c.licence)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="advqa", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
