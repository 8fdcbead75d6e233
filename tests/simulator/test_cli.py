"""The simulator's CLI refuses bad input with exit code 2, listing every problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.processes import run_cli


def test_a_bad_scenario_exits_2_naming_each_problem(env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text(
        json.dumps({"incidents": [{"kind": "fall", "home": 9, "at": "1m"}, {"kind": "sos", "home": 0, "at": "soon"}]})
    )
    env = env_for(
        simulator__homes="2", simulator__data_dir=str(tmp_path / "sim"), simulator__ground_truth_file=str(tmp_path / "t.jsonl")
    )
    result = run_cli(["simulate", "run", "--scenario", str(scenario), "--duration", "1m"], env)
    assert result.returncode == 2, result.stderr
    assert "incidents.0: home index 9 is outside 0..1" in result.stderr
    assert "incidents.1: not a duration: 'soon'" in result.stderr


def test_score_without_ground_truth_exits_2(env_for: Callable[..., dict[str, str]], tmp_path: Path) -> None:
    result = run_cli(["simulate", "score", "--truth", str(tmp_path / "missing.jsonl")], env_for())
    assert result.returncode == 2
    assert "cannot read the ground truth" in result.stderr


def test_score_with_no_incidents_and_no_alerts_reports_nothing_missed(
    env_for: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    truth = tmp_path / "empty.jsonl"
    truth.write_text("")
    result = run_cli(["simulate", "score", "--truth", str(truth), "--json", "--require-all"], env_for())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"alerts_total": 0, "false_alerts": {}, "incidents": {}, "related_alerts": 0}
