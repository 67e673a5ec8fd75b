"""`promote` and `rollback`: walk a canary behind health gates, or put traffic back."""

from __future__ import annotations

import sys

import click

from vertexdeploy import deployer
from vertexdeploy.cli.common import handle_errors, lock_options, lock_request, output_option
from vertexdeploy.rollout import api
from vertexdeploy.rollout.reporter import PlainReporter, Reporter
from vertexdeploy.rollout.result import PromotionResult, PromotionRolledBack, PromotionStopped

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    help="Promotion state lives in the stack's staging bucket; this names only the local "
    "folder older releases used, moved there once [default: $VERTEXDEPLOY_STATE_DIR or "
    ".vertexdeploy/promotions].",
)


def _reporter(output: str) -> Reporter:
    """Rich countdown on a terminal; timestamped lines on stderr in CI or with JSON output."""
    if output == "text" and sys.stderr.isatty():
        from vertexdeploy.rollout.console import RichReporter

        return RichReporter()
    return PlainReporter()


def _render(result: PromotionResult, output: str) -> None:
    """The outcome on stdout; notes, steps and gates were already logged on stderr."""
    click.echo(result.to_json() if output == "json" else result.to_text(log=False))


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--endpoint", required=True, help="Logical endpoint name from the manifest.")
@click.option(
    "--candidate",
    help="Deployment to promote [default: rollout.candidate, else the one deployment whose "
    "model is not the stable alias].",
)
@click.option("--to", "to", type=click.IntRange(1, 100), help="Stop after the step at PERCENT.")
@click.option("--step", is_flag=True, help="Run exactly one step, then exit 0 (one per CI job).")
@state_dir_option
@lock_options
@output_option
@handle_errors
def promote(
    files: tuple[str, ...],
    endpoint: str,
    candidate: str | None,
    to: int | None,
    step: bool,
    state_dir: str | None,
    lock: bool,
    lock_timeout: float,
    output: str,
) -> None:
    """Walk a candidate deployment of ENDPOINT to 100% behind the manifest's gates.

    Exits 4 when a gate fails and traffic was rolled back to the last good split.
    """
    target, policy, stack, spec_hash, named = deployer.rollout_context(files, endpoint)
    locking = lock_request(lock, lock_timeout, *files, "--endpoint", endpoint)
    try:
        with (
            deployer.stack_locked(target, locking),
            deployer.mirroring(target, endpoint),  # compare predictions only during the walk
        ):
            result = api.promote(
                target,
                policy,
                stack=stack,
                endpoint=endpoint,
                endpoint_spec_hash=spec_hash,
                candidate=candidate,
                default_candidate=named,
                to=to,
                step=step,
                store=deployer.promotion_store_for(target, stack, state_dir),
                reporter=_reporter(output),
            )
    except (PromotionRolledBack, PromotionStopped) as exc:
        _render(exc.result, output)
        raise
    _render(result, output)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--endpoint", required=True, help="Logical endpoint name from the manifest.")
@state_dir_option
@lock_options
@output_option
@handle_errors
def rollback(
    files: tuple[str, ...],
    endpoint: str,
    state_dir: str | None,
    lock: bool,
    lock_timeout: float,
    output: str,
) -> None:
    """Give ENDPOINT's stable deployment back its traffic, redeploying it if a completed
    promotion removed it."""
    target, _policy, stack, _hash, _named = deployer.rollout_context(files, endpoint)
    locking = lock_request(lock, lock_timeout, *files, "--endpoint", endpoint)
    with deployer.stack_locked(target, locking):
        result = api.rollback(
            target,
            stack=stack,
            endpoint=endpoint,
            store=deployer.promotion_store_for(target, stack, state_dir),
            reporter=_reporter(output),
        )
    _render(result, output)
