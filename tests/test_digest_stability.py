"""Digests that live in users' clouds and state stay what earlier releases computed.

A model version's fingerprint names it in the registry, a batch job's and a monitoring
job's spec digest sit in their labels, and a promotion stores its endpoint's digest. If an
upgrade changed any of them, the next apply would upload every version again, re-run every
batch job, or hand a promotion's traffic back to the manifest. The values below were
computed by the release before the manifest gained its Vertex fields
(``tests/golden/digests.yaml`` uses none of them).
"""

from __future__ import annotations

from pathlib import Path

from vertexdeploy.desired import build_desired
from vertexdeploy.manifest import load_manifest
from vertexdeploy.rollout.state import endpoint_spec_hash

GOLDEN = Path(__file__).parent / "golden" / "digests.yaml"


def test_addresses_fingerprints_and_spec_digests_are_unchanged() -> None:
    loaded = load_manifest([str(GOLDEN)])
    desired = build_desired(loaded)
    digests = {a: r.attrs.get("spec_hash", "") for a, r in desired.resources.items()}
    assert digests == {
        "batch_job.nightly": "76e73dd32b7d8f4d",
        "deployment.churn.stable": "",
        "endpoint.churn": "",
        "model_version.churn.472e7ee970c9": "",
        "monitoring.churn": "",
        "traffic.churn": "",
    }


def test_the_promotion_digest_of_an_endpoint_is_unchanged() -> None:
    endpoint = load_manifest([str(GOLDEN)]).spec.endpoints[0]
    assert endpoint_spec_hash(endpoint) == (
        "db90f49f9eaedb29872df7699e7f7e04371ce1232786b73de3eac365f346d9cb"
    )
