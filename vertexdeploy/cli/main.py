"""`vertexdeploy`: the root command group.

Subcommands load lazily, so `--help`, `validate` and `plan --offline` never import the
Google Cloud SDK or the emulator's model-serving stack.

Exit codes: 0 ok / no changes, 1 runtime error, 2 usage or manifest error,
3 changes present (plan --detailed-exitcode), 4 rolled back by a promotion gate,
5 anomalies found (monitor --fail-on-anomaly), 6 a version failed its quality checks
(check; plan and apply of a version to upload).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

EXIT_CODES_HELP = """\b
Exit codes:
  0  success / no changes
  1  runtime error (API, emulator, stale plan, stack locked by another run)
  2  usage error or invalid manifest (every problem listed as file:line:col)
  3  changes present (plan --detailed-exitcode)
  4  promotion rolled back by a failing gate
  5  monitor --fail-on-anomaly: a feature's latest value is over its threshold
  6  a version failed its quality checks (check; plan/apply refuse to upload it)
"""

COMMANDS: dict[str, str] = {
    "validate": "vertexdeploy.cli.manifest_cmds:validate",
    "check": "vertexdeploy.cli.check_cmd:check",
    "schema": "vertexdeploy.cli.manifest_cmds:schema",
    "plan": "vertexdeploy.cli.plan_cmd:plan",
    "apply": "vertexdeploy.cli.apply_cmds:apply",
    "destroy": "vertexdeploy.cli.apply_cmds:destroy",
    "status": "vertexdeploy.cli.apply_cmds:status",
    "predict": "vertexdeploy.cli.predict_cmd:predict",
    "promote": "vertexdeploy.cli.promote_cmd:promote",
    "rollback": "vertexdeploy.cli.promote_cmd:rollback",
    "force-unlock": "vertexdeploy.cli.lock_cmd:force_unlock",
    "monitor": "vertexdeploy.cli.monitor_cmd:monitor",
    "feedback": "vertexdeploy.cli.feedback_cmd:feedback_cmd",
    "emulator": "vertexdeploy.cli.emulator_cmd:emulator_group",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        try:
            command = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError:
            return None
        assert isinstance(command, click.Command)
        return command


def _checked(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A malformed --project or --region is a usage error before anything loads."""
    if value is None:
        return None
    from vertexdeploy.errors import UsageError
    from vertexdeploy.manifest import placement

    pattern = placement.PROJECT_PATTERN if param.name == "project" else placement.REGION_PATTERN
    try:
        return placement.check(f"--{param.name}", value, pattern)
    except UsageError as exc:
        raise click.BadParameter(str(exc).split("=", 1)[1], ctx, param) from None


@click.group(
    cls=LazyGroup, epilog=EXIT_CODES_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of short errors.")
@click.option(
    "--project",
    metavar="ID",
    callback=_checked,
    help="Google Cloud project, over the manifest's (which falls back to "
    "GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, then the credentials' project).",
)
@click.option("--region", metavar="REGION", callback=_checked, help="Over the manifest's region.")
@click.version_option(package_name="vertexdeploy")
@click.pass_context
def cli(ctx: click.Context, debug: bool, project: str | None, region: str | None) -> None:
    """Declarative deployments of ML models to Vertex AI (or its local emulator)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["project"] = project
    ctx.obj["region"] = region


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="vertexdeploy")


if __name__ == "__main__":
    main()
