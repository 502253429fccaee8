import json

import numpy as np

from cnn.train.metrics import MetricsWriter, read_metrics


def _records(steps):
    return [{"split": "train", "step": s, "epoch": s / 10, "loss": 1.0 / s} for s in steps]


def test_resuming_drops_the_lines_written_after_the_checkpoint(tmp_path):
    writer = MetricsWriter(str(tmp_path))
    for record in _records([2, 4, 6, 8]) + [{"split": "test", "step": 8, "epoch": 0.8, "loss": 1.0}]:
        writer.write(record)
    writer.close()
    writer = MetricsWriter(str(tmp_path), purge_after=4)
    writer.write(_records([6])[0])
    writer.close()
    assert read_metrics(str(tmp_path)) == _records([2, 4, 6])


def test_records_are_plain_json_lines_and_appended(tmp_path):
    writer = MetricsWriter(str(tmp_path))
    writer.write({"split": "test", "step": np.int32(3), "epoch": 0.3, "top1": np.float32(0.5), "count": 7})
    writer.close()
    writer = MetricsWriter(str(tmp_path))
    writer.write({"split": "test", "step": 4, "epoch": 0.4, "top1": 0.25, "count": 7})
    writer.close()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [3, 4] and json.loads(lines[0])["top1"] == 0.5
