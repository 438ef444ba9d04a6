"""TaskIdentity: explicit values, the environment, defaults and errors."""

from __future__ import annotations

import pytest

from otel_sdk_ext import TaskIdentity, semconv
from otel_sdk_ext.errors import ConfigError
from otel_sdk_ext.identity import DEFAULT_SERVICE_NAME

FULL_ENV = {
    "TASKLOGS_TASK_RUN_ID": "env-run",
    "TASKLOGS_PIPELINE_RUN_ID": "env-pipe-run",
    "TASKLOGS_TASK_NAME": "env-task",
    "TASKLOGS_PIPELINE_NAME": "env-pipeline",
    "TASKLOGS_ATTEMPT": "3",
    "OTEL_SERVICE_NAME": "env-service",
}


def test_from_explicit_arguments() -> None:
    identity = TaskIdentity.from_env(
        {},
        task_run_id="run-1",
        pipeline_run_id="prun-1",
        task_name="compile",
        pipeline_name="build",
        service_name="svc",
        attempt=2,
    )
    assert identity == TaskIdentity(
        task_run_id="run-1",
        pipeline_run_id="prun-1",
        task_name="compile",
        pipeline_name="build",
        service_name="svc",
        attempt=2,
    )


def test_from_environment() -> None:
    identity = TaskIdentity.from_env(FULL_ENV)
    assert identity.task_run_id == "env-run"
    assert identity.pipeline_run_id == "env-pipe-run"
    assert identity.task_name == "env-task"
    assert identity.pipeline_name == "env-pipeline"
    assert identity.attempt == 3
    assert identity.service_name == "env-service"


def test_explicit_arguments_win_over_environment() -> None:
    identity = TaskIdentity.from_env(FULL_ENV, task_run_id="arg-run", attempt=7, task_name="t")
    assert identity.task_run_id == "arg-run"
    assert identity.attempt == 7
    assert identity.task_name == "t"
    assert identity.pipeline_name == "env-pipeline"  # not overridden: from the environment


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in FULL_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TASKLOGS_TASK_RUN_ID", "from-os-environ")
    assert TaskIdentity.from_env().task_run_id == "from-os-environ"


def test_service_name_falls_back_to_task_name_then_default() -> None:
    assert TaskIdentity.from_env({}, task_run_id="r", task_name="lint").service_name == "lint"
    env = {"TASKLOGS_TASK_RUN_ID": "r", "TASKLOGS_TASK_NAME": "test"}
    assert TaskIdentity.from_env(env).service_name == "test"
    assert TaskIdentity.from_env({}, task_run_id="r").service_name == DEFAULT_SERVICE_NAME
    assert DEFAULT_SERVICE_NAME == "tasklogs-task"
    assert TaskIdentity(task_run_id="r", task_name="lint").service_name == "lint"
    assert TaskIdentity(task_run_id="r").service_name == DEFAULT_SERVICE_NAME
    assert TaskIdentity(task_run_id="r", task_name="t", service_name="s").service_name == "s"


def test_missing_task_run_id_names_argument_and_variable() -> None:
    with pytest.raises(ConfigError, match="task_run_id") as info:
        TaskIdentity.from_env({"TASKLOGS_TASK_NAME": "x"})
    assert "TASKLOGS_TASK_RUN_ID" in str(info.value)


def test_blank_environment_values_count_as_unset() -> None:
    with pytest.raises(ConfigError, match="TASKLOGS_TASK_RUN_ID"):
        TaskIdentity.from_env({"TASKLOGS_TASK_RUN_ID": "  "})
    identity = TaskIdentity.from_env({"TASKLOGS_TASK_RUN_ID": "r", "TASKLOGS_ATTEMPT": ""})
    assert identity.attempt is None


@pytest.mark.parametrize("raw", ["two", "1.5", "-1"])
def test_bad_attempt_in_environment(raw: str) -> None:
    with pytest.raises(ConfigError, match="TASKLOGS_ATTEMPT"):
        TaskIdentity.from_env({"TASKLOGS_TASK_RUN_ID": "r", "TASKLOGS_ATTEMPT": raw})


def test_bad_explicit_values() -> None:
    with pytest.raises(ConfigError, match="task_run_id"):
        TaskIdentity.from_env({}, task_run_id="")
    with pytest.raises(ConfigError, match="attempt"):
        TaskIdentity.from_env({}, task_run_id="r", attempt=-2)
    with pytest.raises(ConfigError, match="task_run_id"):
        TaskIdentity(task_run_id="")


def test_resource_attributes_use_semconv_names_and_omit_unset() -> None:
    full = TaskIdentity.from_env(FULL_ENV)
    assert full.resource_attributes() == {
        semconv.SERVICE_NAME: "env-service",
        semconv.TASK_RUN_ID: "env-run",
        semconv.PIPELINE_RUN_ID: "env-pipe-run",
        semconv.TASK_NAME: "env-task",
        semconv.PIPELINE_NAME: "env-pipeline",
        semconv.ATTEMPT: 3,
    }
    minimal = TaskIdentity.from_env({}, task_run_id="r")
    assert minimal.resource_attributes() == {
        "service.name": "tasklogs-task",
        "cicd.pipeline.task.run.id": "r",
    }


def test_identity_is_frozen() -> None:
    identity = TaskIdentity(task_run_id="r")
    with pytest.raises(AttributeError):
        identity.task_run_id = "other"  # type: ignore[misc]
