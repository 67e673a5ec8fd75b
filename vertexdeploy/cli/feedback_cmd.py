"""`feedback`: actual outcomes, joined with an endpoint's logged predictions on the
manifest's key field, scored per deployed model, window and slice."""

from __future__ import annotations

import click

from vertexdeploy.cli.common import echo_json, handle_errors, make_console, output_option
from vertexdeploy.cli.evaluation_table import evaluation_table
from vertexdeploy.evaluation.feedback import FeedbackOutcome, feedback


def _render(out: FeedbackOutcome) -> None:
    console = make_console()
    console.print(
        f"joined {out.matched_keys} of {out.truth_keys} ground-truth keys with "
        f"{out.logged_keyed} logged instances ({out.read_from}); stored {out.stored} rows"
    )
    if out.truth_keys > out.matched_keys:
        console.print(f"{out.truth_keys - out.matched_keys} keys matched no logged prediction")
    console.print(evaluation_table(f"endpoint {out.endpoint} — evaluation per window", out.windows))
    for a in out.new_alerts:
        console.print(f"[bold red]ALERT[/] {a.deployment}: {a.reason}")


@click.command("feedback")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--endpoint", required=True, help="Logical endpoint name from the manifest.")
@click.option(
    "--ground-truth",
    "truth",
    required=True,
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Outcomes, .jsonl or .csv, with the key field and the label field (repeatable).",
)
@output_option
@handle_errors
def feedback_cmd(
    files: tuple[str, ...], endpoint: str, truth: tuple[str, ...], output: str
) -> None:
    """Join ground truth with ENDPOINT's logged predictions and score them.

    Rows are matched on monitoring.ground_truth.key_field, stored, and scored per deployed
    model and window (accuracy, F1, AUC or RMSE, MAE) and per slice of each feature;
    metrics past monitoring.ground_truth.thresholds are recorded as alerts (monitor --alerts).
    Keys that match nothing store nothing and exit 1.
    """
    out = feedback(files, endpoint, truth)
    if output == "json":
        echo_json(out.to_dict())
    else:
        _render(out)
