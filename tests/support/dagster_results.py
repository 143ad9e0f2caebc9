"""Reading a Dagster run's result the way users see it: step failures, materialization metadata,
and everything the run recorded (for the no-secret-leaks checks)."""
from __future__ import annotations


def materializations(result, asset: str) -> list:
    """``asset``'s materializations in ``result``, by asset key: ``slow_log_files`` and
    ``slow_query_events`` are two outputs of one node (``slow_log_ingest``), so a node's
    materializations would mix them."""
    return [e.materialization for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == asset]


def meta(result, asset: str) -> dict:
    """The metadata values of ``asset``'s last materialization in ``result``."""
    mats = materializations(result, asset)
    assert mats, f"no materialization of {asset}"
    return {k: v.value for k, v in mats[-1].metadata.items()}


def event_log_text(result, instance=None) -> str:
    """Everything the run recorded: every stored event record (``instance``), every event (str),
    its metadata and error chains, and the stored run."""
    parts = []
    if instance is not None:
        parts += [str(r) for r in instance.all_logs(result.run_id)]
        parts.append(str(instance.get_run_by_id(result.run_id)))
    for ev in result.all_events:
        parts.append(str(ev))
        data = ev.event_specific_data
        err = getattr(data, "error", None)
        if err is not None:
            parts.append(err.to_string())
        for md in (getattr(getattr(data, "materialization", None), "metadata", None) or {}).values():
            parts.append(str(getattr(md, "value", md)))
    return "\n".join(parts)


def failure_message(result) -> str:
    """The step failure(s) of a run as users see them (description + error chain)."""
    out = []
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            data = ev.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                out.append(data.user_failure_data.description)
            out.append(data.error.to_string())
    return "\n".join(out)
