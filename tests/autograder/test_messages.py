"""autograder.messages: cross-process records, one encoder and decoder for both sides."""

from __future__ import annotations

import json

import pytest

from autograder import messages

PROTECTIONS = messages.Protections(enforced=["mount namespace"], missing=["cgroups"])


def _spec(**change: object) -> messages.SandboxSpec:
    fields = {
        "mode": "root-namespaces", "root": "/t/root", "expose": ["/usr/lib"], "hide": [],
        "scratch": "/s/work", "scratch_tmpfs": "size=1", "scratch_folders": ["tmp", ".out"],
        "inputs": "/s/work/.grader", "export": ".out", "export_max_files": 10,
        "export_max_bytes": 100, "pass_fds": [5, 6], "cgroup_procs": [],
        "rlimits": {"AS": 1}, "uid": 61000, "gid": 61000, "cwd": "/s/work",
        "env": {"HOME": "/s/work"}, "report_fd": 7, "argv": ["python", "-I"],
    }  # fmt: skip
    return messages.SandboxSpec(**{**fields, **change})


@pytest.mark.parametrize(
    "record",
    [
        _spec(),
        _spec(mode=None, uid=None, gid=None),
        PROTECTIONS,
        messages.GradingProcessResult("graded", {"submission": "nb.ipynb"}, ""),
        messages.GradingProcessResult("error", None, "the grader failed"),
        messages.HarnessJob(
            cells=[messages.HarnessCell(0, "x = 1", False), messages.HarnessCell(3, "", True)],
            exports=[messages.HarnessExport("normalize", "function")],
        ),
        messages.HarnessProgress(3, 1796281048.5),
        messages.HarnessProgress("export", 1796281048),  # a whole float, as JSON writes it
    ],
)
def test_a_record_round_trips(record):
    assert type(record).decode(record.encode()) == record


def _tampered(record: messages.Message, **change: object) -> str:
    data = json.loads(record.encode())
    data.update(change)
    return json.dumps({key: value for key, value in data.items() if value is not ...})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_tampered(PROTECTIONS, version=2), "version 2, but this kit reads version 1"),
        (_tampered(PROTECTIONS, version=...), "version None"),
        (_tampered(PROTECTIONS, kind="sandbox-spec"), "expected a sandbox-protections"),
        (_tampered(PROTECTIONS, extra=1), r"unknown fields \['extra'\]"),
        (_tampered(PROTECTIONS, missing=...), r"missing fields \['missing'\]"),
        (_tampered(PROTECTIONS, missing="cgroups"), "missing must be list"),
        (_tampered(PROTECTIONS, enforced=[1]), "enforced must be list"),
        ("[]", "not a JSON object"),
        ("{", "not JSON"),
    ],
)
def test_a_wrong_message_is_refused_with_what_is_wrong(text, message):
    with pytest.raises(messages.MessageError, match=message):
        messages.Protections.decode(text)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"uid": True}, "uid"),
        ({"rlimits": {"AS": "1"}}, "rlimits"),
        ({"pass_fds": [1.5]}, "pass_fds"),
    ],
)
def test_field_types_are_checked_to_the_items(change, field):
    with pytest.raises(messages.MessageError, match=f"{field} must be"):
        messages.SandboxSpec.decode(_tampered(_spec(), **change))


UNIT = messages.ModelUnit("stage:cnn", "stage", "cnn_model", ("cnn.structure",), {"evidence": {}})


def _job(**change: object) -> messages.JudgeJob:
    fields = {
        "config": {"seed": 1}, "assignment": "mnist_digits", "retrain": False,
        "canon": {"x_test": "/w/canon-x_test.npy"}, "workdir": "/w", "folder": 5,
        "results": 6, "units": [UNIT],
    }  # fmt: skip
    return messages.JudgeJob(**{**fields, **change})


def test_the_judge_job_round_trips_with_its_units_as_records():
    decoded = messages.JudgeJob.decode(_job().encode())
    assert decoded == _job()
    assert isinstance(decoded.units[0], messages.ModelUnit)
    assert decoded.units[0].checks == ("cnn.structure",)  # a tuple again, not a JSON list


def test_a_unit_with_a_missing_field_is_refused_naming_it():
    data = json.loads(_job().encode())
    del data["units"][0]["variable"]
    with pytest.raises(
        messages.MessageError, match=r"units message: .*missing fields \['variable'\]"
    ):
        messages.JudgeJob.decode(json.dumps(data))


@pytest.mark.parametrize(
    "record",
    [messages.JudgeReady(), messages.JudgeProgress("checking cnn_model"),
     messages.UnitReport(unit="stage:cnn", results=[{"id": "cnn.structure"}], notes=[],
                         evaluation=None)],
)  # fmt: skip
def test_a_judge_stream_line_is_read_as_its_own_kind(record):
    assert messages.decode_any(record.encode(), messages.JUDGE_MESSAGES) == record


def test_a_judge_stream_line_of_another_kind_or_version_is_refused():
    with pytest.raises(messages.MessageError, match="got a message of kind 'sandbox-spec'"):
        messages.decode_any(_spec().encode(), messages.JUDGE_MESSAGES)
    newer = json.loads(messages.JudgeProgress("x").encode()) | {"version": 2}
    with pytest.raises(messages.MessageError, match="different versions of the kit"):
        messages.decode_any(json.dumps(newer), messages.JUDGE_MESSAGES)


MANIFEST = messages.ExportManifest(
    cells=[{"index": 0, "status": "ok"}], keras_imported=True,
    exports={"normalize": {"error": None}}, labels_one_hot=False,
    files={"normalize": "normalize.npy"},
)  # fmt: skip


def test_a_forged_manifest_field_reads_as_empty_and_costs_only_itself():
    data = MANIFEST.to_data() | {"files": "everything", "labels_one_hot": "yes", "extra": 1}
    del data["cells"]
    read = messages.ExportManifest.read_untrusted(data)
    assert read.files == {} and read.labels_one_hot is False and read.cells == []
    assert read.exports == MANIFEST.exports and read.keras_imported is True  # kept as written
    assert messages.ExportManifest.read_untrusted(MANIFEST.to_data()) == MANIFEST


@pytest.mark.parametrize("change", [{"version": 2}, {"kind": "model-judge-job"}, {"kind": None}])
def test_a_manifest_of_another_kind_or_version_is_refused(change):
    with pytest.raises(messages.MessageError, match="not this kit's export-manifest version 1"):
        messages.ExportManifest.read_untrusted(MANIFEST.to_data() | change)
