"""Regressions named after what broke: misses of the blind holdout and of the demo, fixed by rules
that cover the phrasing in general (several wordings per case, none of them the original one)."""

from __future__ import annotations

import pytest

from monitor.extract import Extractor


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


@pytest.mark.parametrize(
    "text",
    [
        "A ban on raw lithium exports could be revisited if prices recover, the minister said.",
        "Export curbs on graphite might be eased once talks resume, officials said.",
        "The export tax on nickel matte may yet be reconsidered in the budget review.",
    ],
)
def test_hypothetical_after_the_cue_is_not_a_measure(extractor: Extractor, text: str) -> None:
    assert extractor.extract(text).measure == "none"


def test_consequence_of_a_real_measure_is_not_a_hypothetical(extractor: Extractor) -> None:
    result = extractor.extract("China's ban on gallium exports could hit chipmakers in Japan, analysts said.")
    assert result.measure == "export_ban"


@pytest.mark.parametrize(
    "text",
    [
        "The ministry revoked licences held by three cobalt miners in Katanga after an audit.",
        "Zimbabwe revoked the mining licences of 12 lithium companies for failing to build plants.",
        "Authorities suspended the exploration licences of two rare earth explorers.",
        "Guinea cancelled operating permits and licences for 50 bauxite mines.",
    ],
)
def test_mining_licences_are_not_export_licensing(extractor: Extractor, text: str) -> None:
    assert extractor.extract(text).measure != "export_licence"


def test_licences_in_an_export_sentence_still_count(extractor: Extractor) -> None:
    result = extractor.extract("Exporters of gallium must obtain licences before each shipment, MOFCOM said.")
    assert (result.measure, result.imposing_country) == ("export_licence", "CN")


@pytest.mark.parametrize(
    "text",
    [
        "China bans rare earth extraction and separation technology exports.",
        "Beijing prohibited lithium refining technology transfers to foreign firms.",
        "Rare earth magnet technology exports will be banned from next month, the ministry said.",
    ],
)
def test_technology_exports_are_a_technology_ban(extractor: Extractor, text: str) -> None:
    assert extractor.extract(text).measure == "technology_ban"


@pytest.mark.parametrize(
    ("text", "imposing"),
    [
        ("The US and UK sanction Nornickel over its role in the war.", "US"),
        ("The UK and US sanction Russian metals traders.", "GB"),
        ("Britain and the United States imposed sanctions on Russian aluminium.", "GB"),
    ],
)
def test_joint_action_is_imposed_by_the_first_actor(extractor: Extractor, text: str, imposing: str) -> None:
    result = extractor.extract(text)
    assert (result.measure, result.imposing_country) == ("sanction", imposing)
    assert result.target_country != imposing


@pytest.mark.parametrize(
    "text",
    [
        "CATL will expand production of lithium iron phosphate (LFP) cells in Hungary.",
        "Demand for lithium manganese iron phosphate cathodes rose, the company said.",
        "The plant makes LMFP and lithium-iron-phosphate cathode material.",
    ],
)
def test_battery_chemistry_names_only_lithium(extractor: Extractor, text: str) -> None:
    assert extractor.extract(text).minerals == ["lithium"]


@pytest.mark.parametrize(
    ("title", "text", "measure"),
    [
        (
            "Announcement on strengthening export control of dual-use items to the United States",
            "Gallium and germanium dual-use items may not be exported to the United States, the Ministry of "
            "Commerce said.",
            "export_ban",
        ),
        (
            "Notice on export control of certain superhard materials",
            "Exports of the listed items to military end users are hereby prohibited, the ministry said.",
            "export_ban",
        ),
        (
            "Announcement on export control of tungsten items",
            "The listed tungsten items shall not be exported without a licence from the commerce ministry.",
            "export_licence",
        ),
        (
            "China moves to stop gallium exports to the US",
            "Exports of gallium to the United States will require a licence from the Ministry of Commerce.",
            "export_licence",
        ),
    ],
)
def test_operative_clause_decides_between_ban_and_licence(
    extractor: Extractor, title: str, text: str, measure: str
) -> None:
    assert extractor.extract(text, title).measure == measure
