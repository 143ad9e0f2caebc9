"""The production configurations the README shows (deploy/): each one is loaded and validated
against the real config schema of its run launcher / executor (dagster-k8s, dagster-aws)."""
from __future__ import annotations

import importlib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config, resolve_to_config_type

from tests.support.corpus import REPO

DEPLOY = REPO / "deploy"


def _validate_instance_section(path: Path, section: str) -> None:
    spec = yaml.safe_load(path.read_text())[section]
    cls = getattr(importlib.import_module(spec["module"]), spec["class"])
    result = process_config(resolve_to_config_type(cls.config_type()), spec.get("config") or {})
    assert result.success, [e.message for e in result.errors]


@pytest.mark.parametrize("path, sections", [
    (DEPLOY / "kubernetes" / "dagster.yaml", ("run_launcher", "run_coordinator")),
    (DEPLOY / "ecs" / "dagster.yaml", ("run_launcher",)),
])
def test_instance_configs_validate(path, sections):
    for section in sections:
        _validate_instance_section(path, section)


def test_a_broken_launcher_config_is_refused(tmp_path):
    bad = tmp_path / "dagster.yaml"
    bad.write_text("run_launcher:\n  module: dagster_k8s\n  class: K8sRunLauncher\n  config: {job_namespace: 3, nonsense: 1}\n")
    with pytest.raises(AssertionError):
        _validate_instance_section(bad, "run_launcher")


@pytest.mark.parametrize("executor, run_config", [
    ("k8s", DEPLOY / "kubernetes" / "run_config.yaml"),
    ("multiprocess", None),
])
def test_definitions_run_on_the_chosen_executor(monkeypatch, executor, run_config):
    monkeypatch.setenv("SLOWLOG_EXECUTOR", executor)
    import dagster_project.definitions as definitions

    try:
        defs = importlib.reload(definitions).defs
        job = defs.resolve_job_def("ingest_job")
        expected = {"k8s": "k8s", "multiprocess": "slowlog_multiprocess"}[executor]
        assert job.executor_def.name == expected
        config = yaml.safe_load(run_config.read_text()) if run_config else {}
        assert dg.validate_run_config(job, config)
    finally:
        monkeypatch.delenv("SLOWLOG_EXECUTOR")
        importlib.reload(definitions)


def test_unknown_executor_is_a_clear_error(monkeypatch):
    import dagster_project.definitions as definitions

    monkeypatch.setenv("SLOWLOG_EXECUTOR", "mesos")
    try:
        with pytest.raises(ValueError, match="SLOWLOG_EXECUTOR must be one of"):
            importlib.reload(definitions)
    finally:
        monkeypatch.delenv("SLOWLOG_EXECUTOR")
        importlib.reload(definitions)
