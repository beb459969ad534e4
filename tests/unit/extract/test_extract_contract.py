"""The extractor's output contract: tags, roles, spans, bad input."""

from __future__ import annotations

import pytest

from monitor.extract import Extractor, analysed_text
from monitor.records import Extraction


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


def _check_spans(result: Extraction, title: str, text: str) -> None:
    full = analysed_text(title, text)
    for span in result.spans:
        assert full[span.start : span.end] == span.text
        assert span.label in {
            "mineral",
            "country",
            "measure",
            "direction",
            "date",
            "imposing_country",
            "target_country",
        }


def test_analysed_text_joins_title_and_text() -> None:
    assert analysed_text("T", "body") == "T\n\nbody"
    assert analysed_text("", "body") == "body"


def test_export_ban_to_named_destination(extractor: Extractor) -> None:
    title = "China bans gallium exports to US"
    text = (
        "Beijing will restrict exports of gallium and germanium to the United States from December 3, 2024."
    )
    result = extractor.extract(text, title)
    assert result.minerals == ["gallium", "germanium"]
    assert set(result.countries) == {"CN", "US"}
    assert (result.measure, result.direction) == ("export_ban", "tighten")
    assert (result.imposing_country, result.target_country) == ("CN", "US")
    assert result.effective_date == "2024-12-03"
    _check_spans(result, title, text)
    labels = {s.label for s in result.spans}
    expected = {"mineral", "country", "measure", "direction", "imposing_country", "target_country", "date"}
    assert expected <= labels


def test_suspending_a_ban_loosens(extractor: Extractor) -> None:
    result = extractor.extract("", "Beijing suspends the ban on gallium exports to the US until Nov 2026")
    assert (result.measure, result.direction, result.imposing_country, result.target_country) == (
        "export_ban",
        "loosen",
        "CN",
        "US",
    )


def test_extended_suspension_tightens(extractor: Extractor) -> None:
    result = extractor.extract("The DRC extended its cobalt export suspension by three months.")
    assert (result.minerals, result.measure, result.direction) == (["cobalt"], "export_ban", "tighten")
    assert (result.imposing_country, result.target_country) == ("CD", "ALL")


def test_announced_plan_is_a_tightening(extractor: Extractor) -> None:
    result = extractor.extract("Indonesia plans to ban bauxite exports from June 2023.")
    assert (result.minerals, result.measure, result.direction) == (["aluminum"], "export_ban", "tighten")
    assert result.effective_date == "2023-06-01"


def test_import_tariff_targets_the_exporter(extractor: Extractor) -> None:
    result = extractor.extract("The US imposed 25% Section 301 tariffs on Chinese graphite.")
    assert (result.measure, result.imposing_country, result.target_country) == ("import_tariff", "US", "CN")


def test_investigation_has_no_direction(extractor: Extractor) -> None:
    result = extractor.extract("USTR launches Section 232 investigation into processed critical minerals.")
    assert (result.measure, result.direction, result.imposing_country) == ("investigation", None, "US")


def test_export_licence_with_agency(extractor: Extractor) -> None:
    result = extractor.extract(
        "China's MOFCOM announced that exporters will need export licences for graphite."
    )
    assert (result.measure, result.imposing_country, result.target_country) == ("export_licence", "CN", "ALL")


def test_sanctions_on_russian_palladium(extractor: Extractor) -> None:
    result = extractor.extract("Britain imposed sanctions on Russian palladium, the Foreign Office said.")
    assert (result.measure, result.imposing_country, result.target_country) == ("sanction", "GB", "RU")


@pytest.mark.parametrize(
    ("text", "measure"),
    [
        ("Japan and Australia sign critical minerals partnership covering lithium.", "partnership"),
        ("South Korea will expand its strategic stockpile of rare earths.", "stockpile"),
        ("Congo set a minimum export price for cobalt hydroxide.", "price_control"),
    ],
)
def test_measures_without_direction(extractor: Extractor, text: str, measure: str) -> None:
    result = extractor.extract(text)
    assert result.measure == measure
    assert result.direction is None


@pytest.mark.parametrize(
    "text",
    [
        "The price of lithium fell 5% on Tuesday as converters cut output.",
        "China is not considering a ban on rare earth exports, the ministry said.",
        "Analysts warned that China could ban graphite exports if tensions rise.",
        "A new copper mine opened in Peru, lifting output by a fifth.",
    ],
)
def test_no_measure(extractor: Extractor, text: str) -> None:
    result = extractor.extract(text)
    assert result.measure == "none"
    assert result.direction is None
    assert result.imposing_country is None


def test_unchanged_measure_has_no_direction(extractor: Extractor) -> None:
    result = extractor.extract("China's export controls on gallium remain in place, MOFCOM said.")
    assert (result.measure, result.direction) == ("export_licence", None)


def test_trade_forms_map_to_minerals(extractor: Extractor) -> None:
    result = extractor.extract(
        "Shipments of spodumene, lithium hydroxide, spherical graphite, NdPr oxide and cobalt hydroxide rose."
    )
    assert set(result.minerals) == {"lithium", "graphite", "neodymium", "praseodymium", "cobalt"}


def test_group_only_when_named(extractor: Extractor) -> None:
    assert extractor.extract("Dysprosium and terbium prices rose.").minerals == ["dysprosium", "terbium"]
    assert extractor.extract("Rare earths prices rose.").minerals == ["rare earths"]
    assert "platinum group metals" in extractor.extract("PGM output fell in South Africa.").minerals


@pytest.mark.parametrize(
    ("text", "minerals", "countries"),
    [
        ("Cobalt Robotics raised $40 million for its office robots.", [], []),
        ("Higher rates could lead to weaker demand, and the firm will take the lead.", [], []),
        ("A tin can maker raised prices.", [], []),
        ("Officials met to iron out the details.", [], []),
        ("Demand for China clay from paper makers recovered.", [], []),
        ("Turkey farmers expect a record Thanksgiving roast season.", [], []),
        ("Lithium Americas closed its loan for Thacker Pass.", ["lithium"], []),
        ("Refined lead output and zinc concentrate shipments rose.", ["lead", "zinc"], []),
    ],
)
def test_mentions_that_are_not_the_mineral(
    extractor: Extractor, text: str, minerals: list[str], countries: list[str]
) -> None:
    result = extractor.extract(text)
    assert result.minerals == minerals
    assert result.countries == countries


def test_countries_from_capitals_demonyms_agencies(extractor: Extractor) -> None:
    text = (
        "Beijing and Washington traded barbs as Brussels, Tokyo and the DGFT weighed in; "
        "Indonesian officials and the USTR met METI staff in the DRC."
    )
    assert set(extractor.extract(text).countries) == {"CN", "US", "EU", "JP", "IN", "ID", "CD"}


def test_us_china_hyphenated(extractor: Extractor) -> None:
    assert set(extractor.extract("U.S.-China talks on rare earths resumed.").countries) == {"US", "CN"}


def test_chip_controls_without_minerals(extractor: Extractor) -> None:
    result = extractor.extract("The Commerce Department tightened export controls on AI chips to China.")
    assert result.minerals == []
    assert result.measure == "export_licence"
    assert (result.imposing_country, result.target_country) == ("US", "CN")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "La Chine a interdit les exportations de gallium vers les États-Unis, a annoncé le ministère.",
        "中国商务部宣布对镓锗实施出口管制\uff0c自2023年8月1日起正式实施。",
        "\x00\x01\x02\x03\xff\xfe" * 500,
        "lithium \ud800 export ban \udfff China",
        "\ufffd" * 300,
    ],
)
def test_bad_input_gives_empty_result(extractor: Extractor, text: str) -> None:
    result = extractor.extract(text)
    if "lithium" in text:  # lone surrogates are replaced, the rest is analysed
        _check_spans(result, "", text.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd"))
        return
    assert result.minerals == [] and result.countries == [] and result.measure == "none"


def test_bytes_and_invalid_utf8_never_raise(extractor: Extractor) -> None:
    raw = b"China bans \xff\xfe gallium exports"
    result = extractor.extract(raw.decode("utf-8", errors="surrogateescape"))
    assert isinstance(result, Extraction)
    assert extractor.extract(b"China bans gallium exports \xff").measure == "export_ban"  # type: ignore[arg-type]


def test_huge_text_is_truncated() -> None:
    small = Extractor(max_chars=2_000)
    filler = "The market was quiet and traders said that prices were stable. "
    text = "China will require export licences for gallium. " + filler * 100_000
    result = small.extract(text)
    assert result.truncated
    assert result.measure == "export_licence"
    assert all(span.end <= 2_000 for span in result.spans)
    assert not small.extract("China bans gallium exports.").truncated


def test_pipe_keeps_order_and_handles_bad_items(extractor: Extractor) -> None:
    items = [
        ("China bans gallium exports", ""),
        ("", ""),
        ("", "Lithium prices fell."),
        ("", "\x00" * 100),
    ] * 3
    results = list(extractor.pipe(items, batch_size=2))
    assert len(results) == len(items)
    assert [r.measure for r in results[:4]] == ["export_ban", "none", "none", "none"]
    assert results[2].minerals == ["lithium"]


def test_span_offsets_with_title(extractor: Extractor) -> None:
    title = "Indonesia delays bauxite export ban"
    text = "Jakarta postponed the ban on bauxite exports to June 2024, the ESDM said."
    result = extractor.extract(text, title)
    _check_spans(result, title, text)
    assert result.direction == "loosen"
