"""Readable words for alerts: country names, measure phrases, titles and one-line summaries."""

from __future__ import annotations

from collections.abc import Sequence

#: Short names where the ISO name reads badly in a one-liner.
_COUNTRY_NAMES = {
    "CD": "DR Congo",
    "CG": "Republic of the Congo",
    "KR": "South Korea",
    "KP": "North Korea",
    "RU": "Russia",
    "IR": "Iran",
    "TW": "Taiwan",
    "VN": "Vietnam",
    "LA": "Laos",
    "BO": "Bolivia",
    "TZ": "Tanzania",
    "US": "United States",
    "GB": "United Kingdom",
    "SY": "Syria",
    "VE": "Venezuela",
    "MD": "Moldova",
    "EU": "European Union",
}

MEASURE_PHRASES = {
    "export_ban": "export ban",
    "export_licence": "export licensing",
    "export_quota": "export quota",
    "export_tax": "export tax",
    "import_tariff": "import tariff",
    "sanction": "sanctions",
    "investigation": "investigation",
    "technology_ban": "technology export ban",
    "price_control": "price controls",
    "stockpile": "stockpiling",
    "partnership": "partnership",
    "none": "measure",
}

_TYPE_PREFIX = {
    "match": "",
    "threshold": "Repeated reports: ",
    "first_seen": "New: ",
    "escalation": "Escalation: ",
    "de_escalation": "De-escalation: ",
}


def country_name(code: str | None) -> str:
    """A readable country name for an ISO alpha-2 code (the code itself when unknown)."""
    if not code:
        return "Unknown country"
    if code in _COUNTRY_NAMES:
        return _COUNTRY_NAMES[code]
    try:
        import pycountry

        found = pycountry.countries.get(alpha_2=code)
    except (ImportError, LookupError, KeyError):  # pragma: no cover - pycountry is a dependency
        found = None
    if found is None:
        return code
    return str(getattr(found, "common_name", None) or found.name)


def minerals_text(minerals: Sequence[str], limit: int = 6) -> str:
    """``gallium, germanium`` ... ``+3 more``; ``unnamed minerals`` when empty."""
    if not minerals:
        return "unnamed minerals"
    shown = ", ".join(minerals[:limit])
    if len(minerals) > limit:
        shown += f" +{len(minerals) - limit} more"
    return shown


def title(
    rule_type: str, imposing: str | None, measure: str, direction: str | None, minerals: Sequence[str]
) -> str:
    """E.g. ``China tightens export licensing: gallium, germanium``; ``Indonesia sets price controls:
    nickel`` for a measure without a direction."""
    verb = {"loosen": "loosens", "tighten": "tightens"}.get(direction or "", "sets")
    if measure == "investigation":
        verb = "opens" if direction != "loosen" else "closes"
    elif measure in ("partnership", "stockpile"):
        verb = "announces"
    phrase = MEASURE_PHRASES.get(measure, measure.replace("_", " "))
    prefix = _TYPE_PREFIX.get(rule_type, "")
    return f"{prefix}{country_name(imposing)} {verb} {phrase}: {minerals_text(minerals)}"


def retitle(title: str, minerals: Sequence[str]) -> str:
    """``title`` (as :func:`title` wrote it) naming ``minerals`` instead of the ones it names."""
    head = title.rsplit(": ", 1)[0]
    return f"{head}: {minerals_text(minerals)}"


def summary(
    headline: str,
    *,
    target: str | None,
    severity: str,
    effective_date: str | None,
    reports: int,
    sources: int,
    first: str,
) -> str:
    """A readable one-liner: what, against whom, how severe, how many reports since when."""
    parts = [headline]
    if target:
        parts[0] += f" (target: {country_name(target)})"
    if effective_date:
        parts.append(f"effective {effective_date}")
    parts.append(f"severity {severity}")
    parts.append(
        f"{reports} report{'s' if reports != 1 else ''} from {sources} source{'s' if sources != 1 else ''}"
        f" since {first}"
    )
    return "; ".join(parts) + "."
