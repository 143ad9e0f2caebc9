"""What ``make ingest`` (:mod:`dagster_project.ingest_day`) knows about runs and steps that were killed.

* A run executed in the ``make ingest`` process (``dg.execute_job``) has no run launcher and no
  daemon watching it: when that process is killed (``kill -9``, the out-of-memory killer) the run
  stays STARTED in the run history for ever. Dagster's run monitoring cannot help: the
  ``DefaultRunLauncher`` has no run-worker health check (``supports_check_run_worker_health`` is
  False in dagster 1.13) and monitoring only sees launched runs. So each run is tagged with its
  launcher's owner tag (:func:`dagster_project.scratch.owner_tag`), and the next ``make ingest`` on
  the same Dagster instance marks the runs whose launcher is certainly gone as failed
  (:func:`fail_orphaned_runs`).
* A step process killed under the multiprocess executor fails with ``ChildProcessCrashException``
  and no text; the executor says the exit code in an engine event of the step
  (:func:`step_exit_code`), which :func:`killed_step_message` turns into a hint.
"""
from __future__ import annotations

import re

import dagster as dg

from dagster_project.scratch import owner_gone, owner_tag
from dagster_project.slowlog.parallel import death_text

#: the owner tag (scratch.owner_tag) of the process that executes the run in-process
LAUNCHER_TAG = "slowlog/launcher"
#: how dagster's multiprocess executor reports a step process that died (get_run_crash_explanation)
_CRASH = re.compile(r"child process for step (?P<step>\S+) (?:was terminated by signal (?P<signal>\d+)"
                    r"|unexpectedly exited with code (?P<code>-?\d+))")
#: what bounds the processes of each kind of step run at once (settings.py)
_STEP_KNOBS = {"parse": "SLOWLOG_PARSE_STEPS", "download": "SLOWLOG_DOWNLOAD_STEPS"}


def launcher_tags() -> dict[str, str]:
    """Tags for a run this process executes itself (see :func:`fail_orphaned_runs`)."""
    return {LAUNCHER_TAG: owner_tag()}


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs still STARTED (or STARTING) whose launching process is gone; their ids."""
    failed = []
    in_flight = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING])
    for run in instance.get_runs(filters=in_flight):
        tag = run.tags.get(LAUNCHER_TAG)
        if tag and owner_gone(tag):
            instance.report_run_failed(run, message="the process that ran it (make ingest) was killed: marked failed "
                                                    "by the next make ingest")
            failed.append(run.run_id)
    return failed


def step_exit_code(instance: dg.DagsterInstance, run_id: str, step_key: str) -> int | None:
    """The exit code (negative: the signal) of the run's step process that crashed, or None."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        m = _CRASH.search(entry.message or "")
        if m and m.group("step") == step_key:
            return -int(m.group("signal")) if m.group("signal") else int(m.group("code"))
    return None


def killed_step_message(kind: str, label: str, exit_code: int | None) -> str:
    """'parse step for orders-db 2026-11-24 killed by SIGKILL (exit -9): most often the out-of-memory
    killer; lower SLOWLOG_PARSE_STEPS or give the worker more memory'."""
    return f"{kind} step for {label} {death_text(exit_code, _STEP_KNOBS.get(kind, 'the steps run at once'))}"
