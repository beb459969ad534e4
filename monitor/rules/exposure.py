"""Reference figures behind exposure-aware severity, read from ``monitor/data`` with the csv module.

Three tables are read (see ``monitor/data/README.md`` for their sources):

- ``critical_minerals.csv``: which names are critical minerals, on which lists, and their aliases;
- ``production_shares.csv``: each country's share of world mining and refining of a mineral;
- ``us_import_reliance.csv``: U.S. net import reliance on a mineral, with its bound (``eq``, ``gt``,
  ``lt``, ``exporter``).

Rows marked ``verified=no`` are estimates: they are used, and the severity reason says "estimate".
A rare-earth element without figures of its own borrows the ``rare earths`` figures.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from monitor.errors import ConfigError

#: The package's reference data directory.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

#: The 17 rare-earth elements (15 lanthanides, scandium, yttrium).
RARE_EARTH_ELEMENTS: frozenset[str] = frozenset(
    {
        "lanthanum",
        "cerium",
        "praseodymium",
        "neodymium",
        "promethium",
        "samarium",
        "europium",
        "gadolinium",
        "terbium",
        "dysprosium",
        "holmium",
        "erbium",
        "thulium",
        "ytterbium",
        "lutetium",
        "scandium",
        "yttrium",
    }
)
RARE_EARTHS = "rare earths"

#: The lists of critical minerals in ``critical_minerals.csv`` (column ``on_<list>``).
CRITICAL_LISTS: tuple[str, ...] = ("usgs_2022", "usgs_2025", "eu_2023_critical", "eu_2023_strategic")

#: Country codes that are not ISO 3166-1 alpha-2 but turn up in text and tags.
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}


@dataclass(frozen=True)
class Share:
    """One country's share of world supply of a mineral at one stage."""

    mineral: str
    stage: str
    country: str
    pct: float
    verified: bool


@dataclass(frozen=True)
class Reliance:
    """U.S. net import reliance on a mineral: ``pct`` is None when USGS gives no figure."""

    mineral: str
    pct: float | None
    bound: str
    verified: bool

    def at_least(self, threshold: float) -> bool:
        """True when the figure shows reliance of at least ``threshold`` percent.

        ``eq`` and ``gt`` figures count when their value reaches the threshold (">50" counts for 50);
        ``lt`` figures ("<50") never count, since the true value is below the bound; net exporters never
        count either.
        """
        if self.pct is None or self.bound in {"exporter", "lt"}:
            return False
        return self.pct >= threshold

    def describe(self) -> str:
        """The figure as USGS prints it: ``100%``, ``>50%``, ``<25%``, ``net exporter``."""
        if self.pct is None:
            return "no figure"
        if self.bound == "exporter":
            return "net exporter"
        prefix = {"gt": ">", "lt": "<"}.get(self.bound, "")
        return f"{prefix}{self.pct:g}%"


@dataclass(frozen=True)
class Exposure:
    """The reference tables, indexed for severity and for the ``critical`` rule condition."""

    shares: dict[str, dict[str, tuple[Share, ...]]] = field(default_factory=dict)
    reliance: dict[str, Reliance] = field(default_factory=dict)
    lists: dict[str, frozenset[str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    # --- names ---------------------------------------------------------------------------------
    def canonical_mineral(self, name: str) -> str:
        """Return the canonical lower-case name of a mineral (aliases such as ``aluminium`` resolved)."""
        key = name.strip().lower()
        if key in self.lists:
            return key
        return self.aliases.get(key, key)

    def is_critical(self, mineral: str, lists: Iterable[str] | None = None) -> bool:
        """True when the mineral is on one of ``lists`` (all the lists known when None)."""
        on = self.lists.get(self.canonical_mineral(mineral), frozenset())
        wanted = CRITICAL_LISTS if lists is None else tuple(lists)
        return any(name in on for name in wanted)

    def known(self, mineral: str) -> bool:
        """True when ``critical_minerals.csv`` names the mineral (critical or not)."""
        return self.canonical_mineral(mineral) in self.lists

    # --- figures -------------------------------------------------------------------------------
    def _figures_for(self, mineral: str, table: dict[str, object]) -> str | None:
        name = self.canonical_mineral(mineral)
        if name in table:
            return name
        if name in RARE_EARTH_ELEMENTS and RARE_EARTHS in table:
            return RARE_EARTHS
        return None

    def share(self, mineral: str, country: str | None) -> tuple[Share | None, str | None]:
        """The larger of the country's mining and refining shares, and the figures' mineral name.

        The second value is the name whose figures were used (``rare earths`` for a rare-earth element
        without figures of its own), or None when no figure exists for the mineral.
        """
        source = self._figures_for(mineral, self.shares)  # type: ignore[arg-type]
        if source is None:
            return None, None
        code = normalise_country(country)
        if code is None:
            return None, source
        rows = self.shares[source].get(code, ())
        if not rows:
            return None, source
        return max(rows, key=lambda row: row.pct), source

    def import_reliance(self, mineral: str) -> tuple[Reliance | None, str | None]:
        """U.S. net import reliance on the mineral and the figures' mineral name (see :meth:`share`)."""
        source = self._figures_for(mineral, self.reliance)  # type: ignore[arg-type]
        if source is None:
            return None, None
        return self.reliance[source], source


def normalise_country(code: str | None) -> str | None:
    """Upper-case an ISO 3166-1 alpha-2 code; ``None``, empty and ``ALL`` mean no single country."""
    if not code:
        return None
    value = code.strip().upper()
    if not value or value in {"ALL", "WORLD", "-"}:
        return None
    return _COUNTRY_ALIASES.get(value, value)


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except OSError as err:
        raise ConfigError(f"{path}: cannot read reference data: {err.strerror or err}") from err


def _yes(value: str | None) -> bool:
    return (value or "").strip().lower() == "yes"


@lru_cache(maxsize=8)
def load_exposure(data_dir: Path = DATA_DIR) -> Exposure:
    """Read the three reference tables from ``data_dir`` (cached: the files are read-only data).

    Raises :class:`ConfigError` naming the file and line when a row cannot be read.
    """
    lists: dict[str, frozenset[str]] = {}
    aliases: dict[str, str] = {}
    path = data_dir / "critical_minerals.csv"
    for line, row in enumerate(_rows(path), start=2):
        name = (row.get("name") or "").strip().lower()
        if not name:
            raise ConfigError(f"{path}:{line}: field name: empty")
        lists[name] = frozenset(item for item in CRITICAL_LISTS if _yes(row.get(f"on_{item}")))
        for alias in (row.get("aliases") or "").split(";"):
            alias = alias.strip().lower()
            if alias and alias not in aliases:
                aliases[alias] = name
    # A few spellings the aliases column does not carry.
    aliases.setdefault("aluminium", "aluminum")
    aliases.setdefault("rare earth", RARE_EARTHS)
    aliases.setdefault("rare-earths", RARE_EARTHS)

    shares: dict[str, dict[str, list[Share]]] = {}
    path = data_dir / "production_shares.csv"
    for line, row in enumerate(_rows(path), start=2):
        try:
            share = Share(
                mineral=row["mineral"].strip().lower(),
                stage=row["stage"].strip(),
                country=row["country"].strip().upper(),
                pct=float(row["share_pct"]),
                verified=_yes(row.get("verified")),
            )
        except (KeyError, ValueError, AttributeError) as err:
            raise ConfigError(f"{path}:{line}: invalid row: {err}") from err
        shares.setdefault(share.mineral, {}).setdefault(share.country, []).append(share)

    reliance: dict[str, Reliance] = {}
    path = data_dir / "us_import_reliance.csv"
    for line, row in enumerate(_rows(path), start=2):
        raw = (row.get("net_import_reliance_pct") or "").strip()
        try:
            pct = float(raw) if raw else None
        except ValueError as err:
            raise ConfigError(
                f"{path}:{line}: field net_import_reliance_pct: {raw!r} is not a number"
            ) from err
        mineral = (row.get("mineral") or "").strip().lower()
        reliance[mineral] = Reliance(
            mineral=mineral,
            pct=pct,
            bound=(row.get("bound") or "").strip().lower(),
            verified=_yes(row.get("verified")),
        )
    return Exposure(
        shares={m: {c: tuple(v) for c, v in by_country.items()} for m, by_country in shares.items()},
        reliance=reliance,
        lists=lists,
        aliases=aliases,
    )
