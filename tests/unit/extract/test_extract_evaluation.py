"""Gold-set loading and scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.errors import InputError
from monitor.extract.evaluation import format_table, load_gold, score
from monitor.records import Extraction

GOOD = {
    "id": "x1",
    "title": "t",
    "text": "China bans gallium exports",
    "minerals": ["gallium"],
    "countries": ["CN"],
    "imposing_country": "CN",
    "target_country": "ALL",
    "measure": "export_ban",
    "direction": "tighten",
    "effective_date": None,
}


def _write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "gold.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_and_score(tmp_path: Path) -> None:
    gold = load_gold(_write(tmp_path, [GOOD, {**GOOD, "id": "x2", "measure": "none", "direction": None}]))
    predicted = [
        Extraction(
            minerals=["gallium"],
            countries=["CN", "US"],
            imposing_country="CN",
            target_country="ALL",
            measure="export_ban",
            direction="tighten",
        ),
        Extraction(minerals=["gallium"], countries=["CN"], measure="export_ban", direction="tighten"),
    ]
    report = score(gold, predicted)
    assert report.sets["minerals"].f1 == 1.0
    assert report.sets["countries"].precision == pytest.approx(2 / 3)
    assert report.accuracy["measure"] == 0.5
    data = report.to_dict()
    assert data["items"] == 2 and data["accuracy"]["direction"] == 0.5
    assert json.dumps(data)
    assert "minerals" in format_table(report)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("{not json", "<line>"),
        ({**GOOD, "measure": "export_embargo"}, "measure"),
        ({**GOOD, "direction": "up"}, "direction"),
        ({**GOOD, "countries": ["China"]}, "countries"),
        ({**GOOD, "minerals": "gallium"}, "minerals"),
        ({k: v for k, v in GOOD.items() if k != "text"}, "text"),
        ({**GOOD, "target_country": "XX"}, "target_country"),
    ],
)
def test_bad_lines_name_file_line_and_field(tmp_path: Path, row: object, field: str) -> None:
    path = _write(tmp_path, [GOOD, row])
    with pytest.raises(InputError) as info:
        load_gold(path)
    message = str(info.value)
    assert str(path) in message and ":2:" in message and field in message


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="duplicate"):
        load_gold(_write(tmp_path, [GOOD, GOOD]))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_gold(tmp_path / "nope.jsonl")


def test_extraction_to_json() -> None:
    from monitor.extract import Extractor
    from monitor.extract.cli_support import extraction_to_json

    data = extraction_to_json(Extractor().extract("China bans gallium exports to the US."))
    assert data["measure"] == "export_ban" and data["minerals"] == ["gallium"]
    assert json.dumps(data) and all({"start", "end", "label"} <= set(s) for s in data["spans"])
