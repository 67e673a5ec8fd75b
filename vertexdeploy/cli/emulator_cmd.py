"""`emulator`: start, stop and inspect the local Vertex AI emulator."""

from __future__ import annotations

from pathlib import Path

import click

from vertexdeploy.backends.emulator_dir import DEFAULT_DATA_DIR, EMULATOR_DIR_ENV
from vertexdeploy.cli.common import echo_json, handle_errors, output_option

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=str(DEFAULT_DATA_DIR),
    envvar=EMULATOR_DIR_ENV,
    show_default=True,
    show_envvar=True,
    help="Where the emulator keeps its state, buckets and pid file (the same one "
    "plan/apply/status use).",
)


@click.group("emulator")
def emulator_group() -> None:
    """Run the local Vertex AI emulator (the `local` target)."""


@emulator_group.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=0, show_default=True, help="Port; 0 picks a free one.")
@data_dir_option
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    envvar="VERTEXDEPLOY_EMULATOR_WORKERS",
    show_envvar=True,
    help="Processes serving predictions on the port [default: one per core].",
)
@click.option("--detach", is_flag=True, help="Run in the background and print its URL.")
@handle_errors
def start(host: str, port: int, data_dir: Path, workers: int | None, detach: bool) -> None:
    """Start the emulator (in the foreground until Ctrl-C, unless --detach)."""
    if detach:
        from vertexdeploy.emulator import daemon

        info = daemon.start_detached(data_dir, host=host, port=port, workers=workers)
        click.echo(info.url)
        return
    from vertexdeploy.emulator.daemon import find_running
    from vertexdeploy.emulator.server import serve_forever
    from vertexdeploy.emulator.workers.pool import default_count
    from vertexdeploy.errors import EmulatorError

    running = find_running(data_dir)
    if running is not None:
        raise EmulatorError(f"An emulator already serves {data_dir} at {running.url}.")
    serve_forever(data_dir, host=host, port=port, workers=workers or default_count())


@emulator_group.command()
@data_dir_option
@handle_errors
def stop(data_dir: Path) -> None:
    """Stop the emulator serving --data-dir."""
    from vertexdeploy.emulator import daemon

    if daemon.stop(data_dir):
        click.echo("stopped")
    else:
        click.echo("not running")


@emulator_group.command()
@data_dir_option
@output_option
@handle_errors
def status(data_dir: Path, output: str) -> None:
    """Show whether the emulator runs, its URL, and what it holds.

    ``--output json`` also prints its bearer token (the data dir's owner may read it anyway);
    the text output only says where the token file is, so it is not left on screens or logs.
    """
    from vertexdeploy.emulator import daemon

    info = daemon.status(data_dir)
    if output == "json":
        echo_json(info)
        return
    if info["running"]:
        click.echo(f"running  {info['url']}  (pid {info['pid']})")
    else:
        click.echo("not running")
    click.echo(f"data dir {info['data_dir']}")
    click.echo(f"token    in {info['token_file']} (mode 0600; --output json prints it)")
    for label, count in info["resources"].items():
        click.echo(f"  {label:<34} {count}")
