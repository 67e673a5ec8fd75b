"""`force-unlock`: remove a stack lock whose holder crashed."""

from __future__ import annotations

import click

from vertexdeploy import deployer
from vertexdeploy.cli.common import echo_json, handle_errors, output_option


@click.command("force-unlock")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.argument("lock_id")
@output_option
@handle_errors
def force_unlock(files: tuple[str, ...], lock_id: str, output: str) -> None:
    """Remove the stack lock of manifest FILES whose id is LOCK_ID.

    The id (printed by the run that found the lock held) must match, so a lock taken since
    by another run is never broken. Use it only when the holder is gone.
    """
    holder = deployer.force_unlock(files, lock_id)
    if output == "json":
        echo_json({"ok": True, "removed": holder.to_dict()})
    else:
        click.echo(f"removed the stack lock held by {holder.describe()}")
