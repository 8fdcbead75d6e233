"""The developer's loop runs what CI runs: the pre-commit hooks are ./dev test's static checks."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def _dev_test_checks() -> list[str]:
    """The commands ./dev test runs before pytest, in order."""
    script = (ROOT / "dev").read_text()
    start = script.index("    test)")
    body = script[start : script.index("pytest", start)]
    return re.findall(r"^\s+(\.venv/bin/(?:ruff|mypy|lint-imports)\b.*)$", body, re.M)


def test_pre_commit_runs_the_static_checks_of_dev_test() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    commit_hooks = [hook["entry"] for hook in hooks if "pre-push" not in hook.get("stages", [])]
    assert commit_hooks == _dev_test_checks()
    assert all(hook["pass_filenames"] is False for hook in hooks), "the whole tree, as CI checks it"


def test_the_push_hook_runs_the_documented_fast_loop() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    (push,) = [hook for hook in hooks if "pre-push" in hook.get("stages", [])]
    assert '-m "not slow"' in push["entry"]
    assert '-m "not slow"' in (ROOT / "CONTRIBUTING.md").read_text()
