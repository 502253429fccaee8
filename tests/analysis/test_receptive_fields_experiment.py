"""The receptive-field experiment's tables hold the notes' numbers (worked by hand here) and its plot is drawn."""

import os
import runpy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENT = runpy.run_path(os.path.join(ROOT, "experiments", "receptive_fields.py"))


def _rows(table: str) -> dict[str, list[str]]:
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {r[0]: r[1:] for r in rows}


def test_design_rules_match_the_notes():
    rows = _rows(EXPERIMENT["design_rules_table"]())
    # Three 3×3 = one 7×7 in field, 27 against 49 weights per channel pair, three ReLUs against one.
    assert rows["one 7×7"] == ["7×7", "49", "1"] and rows["three 3×3 (VGG)"] == ["7×7", "27", "3"]
    assert rows["two 3×3"] == ["5×5", "18", "2"] and rows["1×7 then 7×1 (Inception v3)"] == ["7×7", "14", "2"]
    assert rows["3×3 at dilation 2"] == ["5×5", "9", "1"] and rows["2×2/2 pool, then 3×3"] == ["6×6", "9", "1"]


def test_growth_table_and_plot(tmp_path):
    rows = _rows(EXPERIMENT["growth_table"]())
    vgg = rows["VGG-16 (`vgg16`)"]
    assert vgg[:7] == ["224×224", "18", "`tap:stage5`", "212", "32", "90", "no"]
    assert vgg[7] == "6 → 16 → 44 → 100 → 212"  # the five pools of Araujo et al.'s vgg_16 table
    assert rows["AlexNet (`alexnet_2012`)"][3:6] == ["195", "32", "64"]
    path = EXPERIMENT["write_plot"](str(tmp_path / "growth.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
