"""`vertexdeploy feedback` end to end: real emulator over HTTP, real SDK predictions, the
request log read in place, ground truth joined on the manifest's key field."""

from __future__ import annotations

import json

from eval_support import EvalEmu, instances, truth_for


def write_jsonl(emu: EvalEmu, name: str, rows: list[dict[str, object]]) -> str:
    path = emu.workdir / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_label_flip_in_half_of_one_slice_drops_that_slice_and_raises_an_alert(
    emu: EvalEmu,
) -> None:
    manifest = emu.stack()
    rows = instances(160)
    emu.predict(rows)
    red_seen = [0]

    def flip(row: dict[str, object], i: int) -> bool:  # every other red row
        if row["color"] != "red":
            return False
        red_seen[0] += 1
        return red_seen[0] % 2 == 0

    truth = write_jsonl(emu, "truth.jsonl", truth_for(rows, flip))
    result = emu.run(
        "feedback", manifest, "--endpoint", "scores", "--ground-truth", truth, "-o", "json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["matched_keys"] == 160 and out["stored_rows"] == 160
    [window] = out["windows"]
    assert window["deployment"] == "main"
    assert window["metrics"]["accuracy"] == 1 - 20 / 160  # 20 of 40 red rows flipped
    assert window["metrics"]["auc"] < 1.0
    colors = {name: s["accuracy"] for name, s in window["slices"]["color"].items()}
    assert colors == {"amber": 1.0, "blue": 1.0, "green": 1.0, "red": 0.5}
    assert len(window["slices"]["x"]) == 4  # quartile bins of a numeric feature
    [alert] = out["alerts"]
    assert alert["kind"] == "slice" and alert["subject"] == "accuracy color=red"
    assert alert["value"] == 0.5 and alert["threshold"] == 0.8
    assert "color=red" in alert["reason"] and "40 joined rows" in alert["reason"]

    listed = emu.run("monitor", manifest, "--endpoint", "scores", "--alerts", "-o", "json")
    assert listed.exit_code == 0, listed.output
    kinds = [(a["kind"], a["subject"]) for a in json.loads(listed.stdout)["alerts"]]
    assert ("slice", "accuracy color=red") in kinds


def test_feedback_with_keys_that_match_nothing_says_so_and_stores_nothing(emu: EvalEmu) -> None:
    manifest = emu.stack()
    emu.predict(instances(30))
    truth = write_jsonl(emu, "truth.jsonl", [{"id": f"nope-{i}", "label": 1} for i in range(5)])
    result = emu.run("feedback", manifest, "--endpoint", "scores", "--ground-truth", truth)
    assert result.exit_code == 1
    assert "none of the 5 ground-truth keys matched a logged prediction" in result.output
    assert "30 logged instances carry that field" in result.output
    assert "nothing was stored" in result.output
    db = emu.workdir / "state" / "evalstack" / "evaluation.db"
    assert not db.exists()


def test_csv_ground_truth_joins_the_same_way(emu: EvalEmu) -> None:
    manifest = emu.stack()
    rows = instances(40)
    emu.predict(rows)
    truth = emu.workdir / "truth.csv"
    truth.write_text("id,label\n" + "".join(f"{t['id']},{t['label']}\n" for t in truth_for(rows)))
    result = emu.run(
        "feedback", manifest, "--endpoint", "scores", "--ground-truth", str(truth), "-o", "json"
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["windows"][0]["metrics"]["accuracy"] == 1.0
    assert out["alerts"] == []
