"""Gazetteers of minerals and countries, built from data files.

Minerals come from ``monitor/data/critical_minerals.csv`` (names and aliases) corrected by
``monitor/data/extract/minerals.yaml``; countries come from pycountry, with demonyms, capitals,
agencies and aliases from ``monitor/data/extract/countries.yaml``. Nothing here is spaCy-specific:
the pipeline turns the terms into PhraseMatcher patterns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycountry
import yaml

from monitor.errors import ConfigError

__all__ = [
    "DATA_DIR",
    "EXTRACT_DATA_DIR",
    "ContextRule",
    "Gazetteer",
    "Term",
    "load_gazetteer",
    "load_yaml",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
EXTRACT_DATA_DIR = DATA_DIR / "extract"

MINERAL = "MINERAL"
COUNTRY = "COUNTRY"
BLOCK = "BLOCK"


@dataclass(frozen=True)
class Term:
    """One surface form to match: ``label`` is MINERAL, COUNTRY or BLOCK; ``value`` the canonical tag.

    ``kind`` says where a country term came from (``name``, ``demonym``, ``capital``, ``agency``),
    which the role logic uses (a demonym before a mineral names the origin of the goods).
    """

    text: str
    label: str
    value: str
    case_sensitive: bool
    kind: str = "name"


@dataclass(frozen=True)
class ContextRule:
    """An ambiguous mineral word ("lead") that counts only next to metal-context words."""

    near: int
    next_words: frozenset[str]
    prev_words: frozenset[str]
    prev_block: frozenset[str]


@dataclass(frozen=True)
class Gazetteer:
    """Everything the gazetteer component needs, loaded and validated once."""

    terms: tuple[Term, ...]
    minerals: tuple[str, ...]
    context_required: dict[str, ContextRule] = field(default_factory=dict)
    company_block_next: frozenset[str] = frozenset()
    sense_block: dict[str, frozenset[str]] = field(default_factory=dict)


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing or malformed file raises ConfigError naming the file."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read extractor data file: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return list(value)


def _str_map(value: Any, where: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of name -> list of strings")
    return {str(key): _str_list(item, f"{where}.{key}") for key, item in value.items()}


def _is_acronym(alias: str) -> bool:
    """Acronyms and formulas (REE, NdPr, TiO2, GaN) are matched on their exact case."""
    return any(ch.isupper() for ch in alias[1:]) or any(ch.isdigit() for ch in alias)


def _variants(alias: str) -> list[str]:
    """Spelling variants of a multi-word alias: hyphen/space swaps and a plural of the head noun."""
    out = [alias]
    if " " in alias:
        out.append(alias.replace(" ", "-"))
    if "-" in alias:
        out.append(alias.replace("-", " "))
    if (" " in alias or "-" in alias) and alias[-1].isalpha() and not alias.endswith("s"):
        out.extend([v + "s" for v in list(out)])
    return out


def _mineral_terms(data_dir: Path) -> tuple[list[Term], list[str], dict[str, Any]]:
    csv_path = data_dir / "critical_minerals.csv"
    yaml_path = data_dir / "extract" / "minerals.yaml"
    config = load_yaml(yaml_path)
    extra = _str_map(config.get("extra_aliases"), f"{yaml_path}: extra_aliases")
    extra_phrases = _str_map(config.get("extra_phrases"), f"{yaml_path}: extra_phrases")
    removed = _str_map(config.get("remove_aliases"), f"{yaml_path}: remove_aliases")
    case_sensitive = set(_str_list(config.get("case_sensitive"), f"{yaml_path}: case_sensitive"))
    aliases: dict[str, list[str]] = {}
    try:
        with csv_path.open(encoding="utf-8", newline="") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                name = (row.get("name") or "").strip()
                if not name:
                    raise ConfigError(f"{csv_path}: line {line_no}: field 'name' is empty")
                listed = [a.strip() for a in (row.get("aliases") or "").split(";") if a.strip()]
                aliases[name] = [name, *listed]
    except OSError as err:
        raise ConfigError(f"{csv_path}: cannot read mineral vocabulary: {err}") from err
    for section, mapping in (
        ("extra_aliases", extra),
        ("remove_aliases", removed),
        ("extra_phrases", extra_phrases),
    ):
        for name in mapping:
            if name not in aliases:
                raise ConfigError(f"{yaml_path}: {section}: unknown mineral {name!r}")
    terms: list[Term] = []
    for name, forms in aliases.items():
        drop = {a.lower() for a in removed.get(name, [])}
        keep = [a for a in forms if a.lower() not in drop] + extra.get(name, []) + extra_phrases.get(name, [])
        seen: set[tuple[str, bool]] = set()
        for alias in keep:
            exact = alias in case_sensitive or _is_acronym(alias)
            for variant in _variants(alias) if not exact else [alias]:
                key = (variant if exact else variant.lower(), exact)
                if key in seen:
                    continue
                seen.add(key)
                terms.append(Term(variant, MINERAL, name, exact))
    for phrase in _str_list(config.get("blocked_phrases"), f"{yaml_path}: blocked_phrases"):
        # "cobalt blue" (listed as case-sensitive) is the colour; "Cobalt Blue" the cobalt company.
        terms.append(Term(phrase, BLOCK, "", phrase != phrase.lower() or phrase in case_sensitive))
    return terms, list(aliases), config


def _country_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for country in pycountry.countries:
        forms = []
        for attr in ("name", "common_name", "official_name"):
            value = getattr(country, attr, None)
            if value and "," not in value and "(" not in value and value not in forms:
                forms.append(value)
        names[country.alpha_2] = forms
    return names


def _country_terms(data_dir: Path) -> tuple[list[Term], dict[str, Any]]:
    yaml_path = data_dir / "extract" / "countries.yaml"
    config = load_yaml(yaml_path)
    excluded = set(_str_list(config.get("excluded_names"), f"{yaml_path}: excluded_names"))
    codes = {c.alpha_2 for c in pycountry.countries} | {"EU"}
    terms: list[Term] = []
    seen: set[tuple[str, str]] = set()

    def add(text: str, code: str, kind: str) -> None:
        for variant in {text, text.upper()} if kind != "agency" else {text}:
            if (variant, code) in seen:
                continue
            seen.add((variant, code))
            terms.append(Term(variant, COUNTRY, code, True, kind))

    sections = {
        kind_section: _str_map(config.get(kind_section), f"{yaml_path}: {kind_section}")
        for kind_section in ("aliases", "demonyms", "capitals", "agencies")
    }
    # A form listed in this file wins over a pycountry name of another country ("Congo" is CD here).
    listed = {
        form for forms_by_code in sections.values() for forms in forms_by_code.values() for form in forms
    }
    for code, forms in _country_names().items():
        for form in forms:
            if form not in excluded and form not in listed:
                add(form, code, "name")
    for section, kind in (
        ("aliases", "name"),
        ("demonyms", "demonym"),
        ("capitals", "capital"),
        ("agencies", "agency"),
    ):
        for code, forms in sections[section].items():
            if code not in codes:
                raise ConfigError(f"{yaml_path}: {section}: {code!r} is not an ISO 3166-1 alpha-2 code or EU")
            for form in forms:
                add(form, code, kind)
    for phrase in _str_list(config.get("blocked_phrases"), f"{yaml_path}: blocked_phrases"):
        terms.append(Term(phrase, BLOCK, "", True))
    return terms, config


def load_gazetteer(data_dir: Path | None = None) -> Gazetteer:
    """Load the mineral and country gazetteers from ``data_dir`` (default: the package data)."""
    base = data_dir or DATA_DIR
    mineral_terms, minerals, mineral_config = _mineral_terms(base)
    country_terms, country_config = _country_terms(base)
    where = f"{base / 'extract' / 'minerals.yaml'}: context_required"
    rules: dict[str, ContextRule] = {}
    raw_rules = mineral_config.get("context_required") or {}
    if not isinstance(raw_rules, dict):
        raise ConfigError(f"{where}: expected a mapping")
    for word, spec in raw_rules.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}.{word}: expected a mapping")
        rules[str(word).lower()] = ContextRule(
            near=int(spec.get("near", 0)),
            next_words=frozenset(w.lower() for w in _str_list(spec.get("next"), f"{where}.{word}.next")),
            prev_words=frozenset(w.lower() for w in _str_list(spec.get("prev"), f"{where}.{word}.prev")),
            prev_block=frozenset(
                w.lower() for w in _str_list(spec.get("prev_block"), f"{where}.{word}.prev_block")
            ),
        )
    sense = _str_map(country_config.get("sense_block"), "countries.yaml: sense_block")
    return Gazetteer(
        terms=tuple(mineral_terms + country_terms),
        minerals=tuple(minerals),
        context_required=rules,
        company_block_next=frozenset(
            _str_list(mineral_config.get("company_block_next"), "minerals.yaml: company_block_next")
        ),
        sense_block={code: frozenset(w.lower() for w in words) for code, words in sense.items()},
    )
