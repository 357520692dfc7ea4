"""The run record: statuses from how a run ends, and results.json written and read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_lightning.results import RESULTS_FILE, RunRecord, Status, read, stage_metrics, write


class TrialPruned(Exception):
    """Named as optuna's: the record matches it by name, without importing optuna."""


@pytest.mark.parametrize(
    ("err", "status"),
    [
        (None, Status.COMPLETED),
        (RuntimeError("boom"), Status.FAILED),
        (TrialPruned("pruned after epoch 3"), Status.PRUNED),
        (KeyboardInterrupt(), Status.INTERRUPTED),
        (SystemExit(1), Status.INTERRUPTED),
    ],
)
def test_a_run_ends_with_the_status_of_what_stopped_it(err: BaseException | None, status: Status) -> None:
    record = RunRecord(run_name="r", choices={})
    record.ended(err)
    assert record.status is status
    assert (record.error is None) == (err is None)


def test_written_record_reads_back_equal(tmp_path: Path) -> None:
    record = RunRecord(run_name="vggnet-sgd-plateau-s0", choices={"model": "vggnet"}, seed=0, epochs=2)
    record.ended(RuntimeError("planted"))
    record.test = stage_metrics({"test/acc": 0.5, "val/acc": 0.4, "test/f1_macro": 0.3}, "test")
    path = write(record, tmp_path / "run")
    assert path == tmp_path / "run" / RESULTS_FILE
    assert read(path) == record == read(tmp_path / "run")
    assert record.test == {"acc": 0.5, "f1_macro": 0.3}
    assert '"status": "failed"' in path.read_text() and "RuntimeError: planted" in path.read_text()


def test_a_foreign_file_is_named_with_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / RESULTS_FILE
    path.write_text('{"run_name": "r", "choices": {}, "status": "done"}')
    with pytest.raises(ValueError, match=r"results.json: status='done', expected one of \['completed'"):
        read(path)
    path.write_text('{"run_name": "r", "choices": {}, "status": "failed", "lr": 0.1}')
    with pytest.raises(ValueError, match=r"unknown keys \['lr'\]"):
        read(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read(path)
