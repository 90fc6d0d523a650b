"""The KPI catalogue (dbt/kpis.yml) and everything derived from it.

The catalogue defines every KPI once. This module validates it and generates:

- ``dbt/macros/_kpi_catalogue.sql``: the dbt macros ``kpi(name)`` (a KPI's row formula) and
  ``kpi_threshold(name, level)``, which the marts use (dbt's Jinja cannot read a YAML file, so the
  catalogue is compiled into a macro file);
- ``dbt/models/marts/_kpi_catalogue.md``: dbt doc blocks ``kpi_<name>``, the descriptions of the
  marts' KPI columns (``description: "{{ doc('kpi_margin_pct') }}"``);
- the ``metrics:`` of the Superset datasets (superset/assets/datasets/...), rewritten in place:
  only the KPIs' metrics change, every other key (UUIDs, columns, other metrics) is kept;
- ``docs/kpis.md``, the KPI reference page.

``load_catalogue`` validates the YAML (every problem at once) and builds the typed, immutable
``Catalogue`` the generators read.

``pilotage kpis --check`` exits 1 when a derived file differs from what the catalogue generates
(drift) or the catalogue is invalid; ``pilotage kpis --write`` regenerates the files. The drift
machinery is shared with the challenges (pilotage/generated_files.py).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from pilotage import superset_columns
from pilotage.generated_files import (
    Drift,
    entry_differences,
    relative,
    replace_yaml_block,
    sync_file,
)
from pilotage.settings import DBT_PROJECT_DIR, LANGUAGES, PROJECT_ROOT

CATALOGUE_PATH = DBT_PROJECT_DIR / "kpis.yml"
DBT_MACRO_PATH = DBT_PROJECT_DIR / "macros" / "_kpi_catalogue.sql"
DOCS_PATH = PROJECT_ROOT / "docs" / "kpis.md"
# dbt doc blocks {% docs kpi_<name> %}: the marts' KPI column descriptions ({{ doc('kpi_...') }}).
DBT_DOCS_PATH = DBT_PROJECT_DIR / "models" / "marts" / "_kpi_catalogue.md"

FIELDS = (
    "name",
    "label",
    "description",
    "formula",
    "row_formula",
    "row_source",
    "grain",
    "unit",
    "format",
    "direction",
    "additive",
    "requires",
    "thresholds",
    "superset",
)
# column: the mart column when it is not the name (a long mart whose column names another
# grain's KPI already has, e.g. kpi_objectives.pace next to kpi_rep_month.pace).
OPTIONAL_FIELDS = ("column",)
# ratio: a share, shown as a percentage; rate: a quotient that is not a share (per working
# day, per deal); days: a duration in days; metric: in the unit of the row's metric (a long mart
# such as kpi_objectives: an amount for revenue, a count for calls).
UNITS = ("count", "currency", "ratio", "rate", "days", "metric")
# Units that are a quotient: their formula is a ratio of sums, sum(..) / nullif(sum(..), 0).
QUOTIENT_UNITS = ("ratio", "rate", "days")
DIRECTIONS = ("higher_is_better", "lower_is_better", "neutral")
THRESHOLD_LEVELS = ("red", "green")
# The d3 formats the dashboards use (Superset's d3-format); a new one is added here on purpose.
FORMATS = (",d", ",.0f", ",.1f", ",.2f", ".0%", ".1%", ".2%")
# d3-format's own specifier grammar (d3-format/src/formatSpecifier.js).
D3_SPECIFIER = re.compile(
    r"^(?:(.)?([<>=^]))?([+\-( ])?([$#])?(0)?(\d+)?(,)?(\.\d+)?(~)?([a-z%])?$"
)
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Keys of a Superset metric, in the order Superset exports them; the catalogue sets these (currency:
# the company's currency on a KPI of unit currency, else none).
MANAGED_METRIC_KEYS = (
    "metric_name",
    "verbose_name",
    "expression",
    "d3format",
    "description",
    "currency",
)
METRIC_DEFAULTS = {"metric_type": None, "currency": None, "extra": {}, "warning_text": None}
# superset.currency: an ISO 4217 code, shown before or after the amount (Superset's metric
# `currency` {symbol, symbolPosition}; Superset renders the code as its symbol, EUR as €).
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
CURRENCY_POSITIONS = ("prefix", "suffix")
METRIC_KEY_ORDER = (
    "metric_name",
    "verbose_name",
    "metric_type",
    "expression",
    "description",
    "d3format",
    "currency",
    "extra",
    "warning_text",
)
GENERATED = "Generated from dbt/kpis.yml by `pilotage kpis --write`"
DIFFERS = "differs from what dbt/kpis.yml generates"
# Keys of a data requirement (catalogue section data_requirements) and the source systems.
REQUIREMENT_FIELDS = ("label", "system", "needs", "present", "missing")
SYSTEMS = ("crm", "erp")


class CatalogueError(ValueError):
    """The catalogue is invalid; the message lists every problem."""


# ------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Localized:
    """A text in each of the dashboards' languages (LANGUAGES)."""

    en: str
    fr: str


@dataclass(frozen=True)
class Thresholds:
    """Green at or better than ``green``, red at or worse than ``red``, amber strictly in between
    ("better" follows the KPI's direction)."""

    red: float
    green: float


@dataclass(frozen=True)
class Grain:
    """A grain of the marts: the mart model whose rows are at that grain, and what a row is."""

    model: str
    description: str


@dataclass(frozen=True)
class DataRequirement:
    """What the delivered data must hold for the KPIs that require it: the canonical objects and
    columns it ``needs`` (ingestion/extracts.py), the SQL true when the warehouse holds it
    (``present``) and the reason shown when it does not (``missing``)."""

    label: str
    system: str  # one of SYSTEMS
    needs: Mapping[str, tuple[str, ...]]
    present: str
    missing: str


@dataclass(frozen=True)
class Kpi:
    """A KPI of the catalogue; its fields are documented at the top of dbt/kpis.yml."""

    name: str
    label: Localized
    description: Localized
    formula: str
    row_formula: str | None
    row_source: str
    grains: tuple[str, ...]  # the grains whose marts carry the KPI (YAML `grain`: one or a list)
    column: str  # the marts' column carrying the KPI: YAML `column`, else the name
    unit: str
    format: str
    direction: str
    additive: bool
    requires: tuple[str, ...]  # the data requirements the KPI is computed from
    thresholds: Thresholds | None
    superset: Mapping[str, str | None]  # Superset dataset -> expression replacing `formula`

    def formula_for(self, model: str) -> str:
        """The aggregate formula over ``model``'s columns: the ``superset`` expression for that
        model when it names the columns otherwise (kpi_rep_month's revenue and revenue_target
        for kpi_objectives' actual and target), else ``formula``."""
        return _one_line(self.superset.get(model) or self.formula)

    @property
    def is_rounded(self) -> bool:
        """Whether the KPI's column is a quotient, rounded by the one rule (dbt macro
        round_ratio: 6 decimals, half away from zero) before any threshold reads it: a ratio,
        rate or duration, or any other KPI that is not a sum and divides."""
        if self.unit in QUOTIENT_UNITS:
            return True
        return not self.additive and "/" in (self.row_formula or "")

    @property
    def doc_block_name(self) -> str:
        """The dbt doc block describing the KPI's mart columns (marts/_kpi_catalogue.md)."""
        return f"kpi_{self.name}"


@dataclass(frozen=True)
class Currency:
    """The company's currency (catalogue ``superset.currency``): an ISO 4217 code and whether it
    is written before (prefix) or after (suffix) the amount."""

    symbol: str
    symbol_position: str

    def superset(self) -> dict[str, str]:
        """The Superset metric's ``currency`` value."""
        return {"symbol": self.symbol, "symbolPosition": self.symbol_position}


@dataclass(frozen=True)
class Catalogue:
    """dbt/kpis.yml, validated. Its mappings keep the file's order, which the generated files
    follow."""

    grains: Mapping[str, Grain]
    datasets_dir: Path  # superset.datasets_dir: the Superset datasets carrying the KPIs' metrics
    other_metrics: Mapping[str, tuple[str, ...]]  # per dataset, its saved metrics that are no KPI
    currency: Currency  # superset.currency: the amounts' currency on the dashboards
    data_requirements: Mapping[str, DataRequirement]
    kpis: tuple[Kpi, ...]


# ---------------------------------------------------------------------------------- catalogue


def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue (default: dbt/kpis.yml), validated (raises CatalogueError)."""
    path = path or CATALOGUE_PATH
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return parse_catalogue(raw, where=relative(path))


def parse_catalogue(raw: Any, where: str = "dbt/kpis.yml") -> Catalogue:
    """The catalogue built from its YAML data; raises CatalogueError listing every problem."""
    errors = validate_catalogue(raw)
    if errors:
        raise CatalogueError(f"{where} is invalid:\n  " + "\n  ".join(errors))
    superset, grains = raw["superset"], raw.get("grains") or {}
    others = superset.get("other_metrics") or {}
    return Catalogue(
        grains=MappingProxyType(
            {name: Grain(g["model"], g.get("description", "")) for name, g in grains.items()}
        ),
        datasets_dir=Path(superset["datasets_dir"]),
        other_metrics=MappingProxyType({name: tuple(m or ()) for name, m in others.items()}),
        currency=Currency(**superset["currency"]),
        data_requirements=MappingProxyType(
            {name: _requirement(r) for name, r in raw["data_requirements"].items()}
        ),
        kpis=tuple(_kpi(kpi) for kpi in raw["kpis"]),
    )


def _requirement(raw: dict[str, Any]) -> DataRequirement:
    """The model of a valid data requirement entry."""
    return DataRequirement(
        label=raw["label"],
        system=raw["system"],
        needs=MappingProxyType({obj: tuple(cols or ()) for obj, cols in raw["needs"].items()}),
        present=raw["present"],
        missing=raw["missing"],
    )


def _grain_names(kpi: dict[str, Any]) -> list[Any]:
    """A KPI entry's ``grain``: one grain or a list of them."""
    return kpi["grain"] if isinstance(kpi["grain"], list) else [kpi["grain"]]


def _kpi(raw: dict[str, Any]) -> Kpi:
    """The model of a valid KPI entry."""
    thresholds = raw["thresholds"]
    return Kpi(
        name=raw["name"],
        label=Localized(**raw["label"]),
        description=Localized(**raw["description"]),
        formula=raw["formula"],
        row_formula=raw["row_formula"],
        row_source=raw["row_source"],
        grains=tuple(_grain_names(raw)),
        column=raw.get("column") or raw["name"],
        unit=raw["unit"],
        format=raw["format"],
        direction=raw["direction"],
        additive=raw["additive"],
        requires=tuple(raw["requires"]),
        thresholds=Thresholds(**thresholds) if thresholds is not None else None,
        superset=MappingProxyType(
            {name: (o or {}).get("expression") for name, o in raw["superset"].items()}
        ),
    )


def _localized_errors(where: str, field: str, value: Any) -> list[str]:
    """A text in every language (LANGUAGES), each non-empty: the message says what to add."""
    if isinstance(value, dict) and set(value) == set(LANGUAGES):
        if all(isinstance(v, str) and v.strip() for v in value.values()):
            return []
        return [f"{where}: empty {field}"]
    return [
        f"{where}: {field} must have exactly {', '.join(LANGUAGES)} (in dbt/kpis.yml write"
        f" `{field}: {{en: ..., fr: ...}}`, the French text next to the English one)"
    ]


def validate_catalogue(raw: Any) -> list[str]:
    """Every problem of the catalogue's YAML data, as messages (empty: valid)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("kpis"), list):
        return ["the catalogue must be a mapping with a list `kpis`"]
    errors: list[str] = []
    grains = raw.get("grains") or {}
    if not isinstance(grains, dict) or not all(
        isinstance(g, dict) and g.get("model") for g in grains.values()
    ):
        errors.append("`grains` must map each grain to {model, description}")
        grains = {}
    settings = raw.get("superset") or {}
    if not settings.get("datasets_dir"):
        errors.append("`superset.datasets_dir` is missing")
    errors += _currency_errors(settings.get("currency"))
    requirements = raw.get("data_requirements")
    errors += _requirement_errors(requirements)
    known_requirements = set(requirements) if isinstance(requirements, dict) else set()
    names: set[str] = set()
    for index, kpi in enumerate(raw["kpis"]):
        if not isinstance(kpi, dict):
            errors.append(f"kpis[{index}] is not a mapping")
            continue
        name = kpi.get("name", f"kpis[{index}]")
        where = f"KPI {name}"
        missing = [field for field in FIELDS if field not in kpi]
        unknown = sorted(set(kpi) - set(FIELDS) - set(OPTIONAL_FIELDS))
        if missing:
            errors.append(f"{where}: missing {', '.join(missing)}")
        if unknown:
            errors.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        if missing:
            continue
        if not isinstance(name, str) or not NAME.match(name):
            errors.append(f"{where}: name must be snake_case")
        if "column" in kpi and not (isinstance(kpi["column"], str) and NAME.match(kpi["column"])):
            errors.append(f"{where}: column must be snake_case")
        if name in names:
            errors.append(f"{where}: defined twice")
        names.add(name)
        errors += _localized_errors(where, "label", kpi["label"])
        errors += _localized_errors(where, "description", kpi["description"])
        for field in ("formula", "row_source"):
            if not isinstance(kpi[field], str) or not kpi[field].strip():
                errors.append(f"{where}: {field} must be a non-empty string")
        formula = str(kpi["formula"])
        if "{{" in formula or "{%" in formula:
            errors.append(f"{where}: formula must be plain SQL (no Jinja)")
        if re.search(r"\bavg\s*\(", formula, re.IGNORECASE):
            errors.append(f"{where}: formula averages (use a ratio of sums)")
        if kpi["row_formula"] is not None and not str(kpi["row_formula"]).strip():
            errors.append(f"{where}: row_formula must be SQL or null")
        kpi_grain_names = _grain_names(kpi)
        if not kpi_grain_names or len(set(kpi_grain_names)) != len(kpi_grain_names):
            errors.append(f"{where}: grain must be a grain or a list of distinct grains")
        for grain in kpi_grain_names:
            if grain not in grains:
                errors.append(f"{where}: unknown grain {grain!r}")
        if kpi["unit"] not in UNITS:
            errors.append(f"{where}: unit must be one of {', '.join(UNITS)}")
        fmt = kpi["format"]
        if fmt not in FORMATS or not D3_SPECIFIER.match(str(fmt)):
            errors.append(f"{where}: format {fmt!r} is not one of the known d3 formats {FORMATS}")
        if kpi["unit"] == "ratio" and not str(fmt).endswith("%"):
            errors.append(f"{where}: a ratio is formatted as a percentage")
        if kpi["direction"] not in DIRECTIONS:
            errors.append(f"{where}: direction must be one of {', '.join(DIRECTIONS)}")
        if not isinstance(kpi["additive"], bool):
            errors.append(f"{where}: additive must be true or false")
        elif kpi["unit"] == "ratio" and kpi["additive"]:
            errors.append(f"{where}: a ratio is not additive")
        if kpi["unit"] in QUOTIENT_UNITS and not re.search(
            r"/\s*nullif\s*\(", formula, re.IGNORECASE
        ):
            errors.append(f"{where}: a {kpi['unit']}'s formula is sum(..) / nullif(sum(..), 0)")
        errors += [f"{where}: {e}" for e in _threshold_errors(kpi["thresholds"], kpi["direction"])]
        requires = kpi["requires"]
        if not isinstance(requires, list) or not requires:
            errors.append(f"{where}: requires must list the data requirements it is computed from")
        else:
            unknown_requirements = sorted(set(map(str, requires)) - known_requirements)
            if unknown_requirements:
                errors.append(
                    f"{where}: unknown data requirement(s) {', '.join(unknown_requirements)}"
                )
        datasets = kpi["superset"]
        if not isinstance(datasets, dict) or not all(
            isinstance(v, dict) and set(v) <= {"expression"} for v in datasets.values()
        ):
            errors.append(f"{where}: superset maps dataset names to {{}} or {{expression: ...}}")
    for dataset, metrics in (settings.get("other_metrics") or {}).items():
        clash = names & set(metrics or [])
        if clash:
            errors.append(f"superset.other_metrics.{dataset}: {sorted(clash)} are KPIs")
    return errors


def _currency_errors(currency: Any) -> list[str]:
    """Problems of ``superset.currency``: {symbol: an ISO 4217 code, symbol_position}."""
    if not isinstance(currency, dict) or set(currency) != {"symbol", "symbol_position"}:
        return ["`superset.currency` must be {symbol: EUR, symbol_position: prefix|suffix}"]
    errors = []
    if not isinstance(currency["symbol"], str) or not CURRENCY_CODE.match(currency["symbol"]):
        errors.append("`superset.currency.symbol` must be an ISO 4217 code (EUR, USD, GBP...)")
    if currency["symbol_position"] not in CURRENCY_POSITIONS:
        errors.append(
            f"`superset.currency.symbol_position` must be one of {', '.join(CURRENCY_POSITIONS)}"
        )
    return errors


def _requirement_errors(requirements: Any) -> list[str]:
    """Problems of the ``data_requirements`` section: fields, systems and the canonical objects
    and columns they need (ingestion/extracts.py)."""
    from ingestion.extracts import ALL_EXTRACTS

    if not isinstance(requirements, dict) or not requirements:
        return ["`data_requirements` must map requirement names to their definition"]
    extracts = {(e.system, e.object_name): e for e in ALL_EXTRACTS}
    errors = []
    for name, requirement in requirements.items():
        where = f"data requirement {name}"
        if not NAME.match(str(name)):
            errors.append(f"{where}: name must be snake_case")
        if not isinstance(requirement, dict) or set(requirement) != set(REQUIREMENT_FIELDS):
            errors.append(f"{where}: needs exactly the keys {', '.join(REQUIREMENT_FIELDS)}")
            continue
        if requirement["system"] not in SYSTEMS:
            errors.append(f"{where}: system must be one of {', '.join(SYSTEMS)}")
            continue
        for field in ("label", "present", "missing"):
            if not isinstance(requirement[field], str) or not requirement[field].strip():
                errors.append(f"{where}: {field} must be a non-empty string")
        needs = requirement["needs"]
        if not isinstance(needs, dict) or not needs:
            errors.append(f"{where}: needs maps canonical objects to their columns")
            continue
        for object_name, columns in needs.items():
            extract = extracts.get((requirement["system"], object_name))
            if extract is None:
                errors.append(f"{where}: {requirement['system']} has no object {object_name}")
                continue
            unknown = [c for c in columns or [] if c not in extract.columns]
            if unknown:
                errors.append(f"{where}: {object_name} has no column(s) {', '.join(unknown)}")
    return errors


def _threshold_errors(thresholds: Any, direction: str) -> list[str]:
    if thresholds is None:
        return []
    if not isinstance(thresholds, dict) or set(thresholds) != set(THRESHOLD_LEVELS):
        return ["thresholds must be null or {red, green} (amber is in between)"]
    red, green = thresholds["red"], thresholds["green"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (red, green)):
        return ["thresholds must be numbers"]
    if direction == "higher_is_better" and not red < green:
        return ["higher_is_better: thresholds need red < green"]
    if direction == "lower_is_better" and not red > green:
        return ["lower_is_better: thresholds need red > green"]
    if direction == "neutral":
        return ["a neutral KPI has no thresholds"]
    return []


# ---------------------------------------------------------------------------------------- dbt


def _jinja_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def render_dbt_macros(catalogue: Catalogue) -> str:
    """dbt/macros/_kpi_catalogue.sql: ``kpi(name)`` and ``kpi_threshold(name, level)``."""
    with_row = [kpi for kpi in catalogue.kpis if kpi.row_formula is not None]
    lines = [
        "{#-",
        f"    {GENERATED}.",
        "    Do not edit: change dbt/kpis.yml and run `pilotage kpis --write` (make lint checks).",
        "-#}",
        "",
        "{#- The SQL expression that computes a KPI's mart column (its catalogue row_formula). -#}",
        "{% macro kpi(name) -%}",
    ]
    for index, kpi in enumerate(with_row):
        keyword = "if" if index == 0 else "elif"
        lines.append(f"    {{%- {keyword} name == {_jinja_string(kpi.name)} -%}}")
        formula = kpi.row_formula.strip()
        if kpi.is_rounded:
            lines.append("        {%- call round_ratio_of() -%}")
            lines += [f"            {line}".rstrip() for line in formula.splitlines()]
            lines.append("        {%- endcall -%}")
        else:
            lines += [f"        {line}".rstrip() for line in formula.splitlines()]
    lines += [
        "    {%- else -%}",
        "        {{ exceptions.raise_compiler_error(",
        '            "KPI \'" ~ name ~ "\' has no row_formula in dbt/kpis.yml"',
        "        ) }}",
        "    {%- endif -%}",
        "{%- endmacro %}",
        "",
        "{#- A KPI's threshold (level red or green; amber lies in between), as a SQL number. -#}",
        "{% macro kpi_threshold(name, level) -%}",
        "    {%- set thresholds = {",
    ]
    with_thresholds = [kpi for kpi in catalogue.kpis if kpi.thresholds]
    for index, kpi in enumerate(with_thresholds):
        levels = ", ".join(
            f"{_jinja_string(level)}: {_number(getattr(kpi.thresholds, level))}"
            for level in THRESHOLD_LEVELS
        )
        comma = "," if index < len(with_thresholds) - 1 else ""
        lines.append(f"        {_jinja_string(kpi.name)}: {{{levels}}}{comma}")
    lines += [
        "    } -%}",
        "    {%- if name not in thresholds or level not in thresholds[name] -%}",
        "        {{ exceptions.raise_compiler_error(",
        '            "KPI \'" ~ name ~ "\' has no threshold \'" ~ level ~ "\' in dbt/kpis.yml"',
        "        ) }}",
        "    {%- endif -%}",
        "    {{ thresholds[name][level] }}",
        "{%- endmacro %}",
        "",
    ]
    return "\n".join(lines + _requirement_macros(catalogue))


def _requirement_macros(catalogue: Catalogue) -> list[str]:
    """``kpi_requires(name)``, ``data_requirements()`` and ``data_requirement_present(name)``."""
    kpis = catalogue.kpis
    requirements = catalogue.data_requirements
    lines = [
        "{#- Every KPI: name, labels and the data requirements it is computed from. -#}",
        "{% macro kpi_catalogue() -%}",
        "    {{ return([",
    ]
    for index, kpi in enumerate(kpis):
        names = ", ".join(_jinja_string(r) for r in kpi.requires)
        comma = "," if index < len(kpis) - 1 else ""
        lines.append(
            f"        {{'name': {_jinja_string(kpi.name)}, "
            f"'label_en': {_jinja_string(kpi.label.en)}, "
            f"'label_fr': {_jinja_string(kpi.label.fr)}, "
            f"'requires': [{names}]}}{comma}"
        )
    lines += [
        "    ]) }}",
        "{%- endmacro %}",
        "",
        "{#- The data requirements a KPI is computed from (dbt/kpis.yml `requires`). -#}",
        "{% macro kpi_requires(name) -%}",
        "    {%- for kpi in kpi_catalogue() if kpi.name == name -%}",
        "        {{ return(kpi.requires) }}",
        "    {%- endfor -%}",
        "    {{ exceptions.raise_compiler_error(",
        '        "KPI \'" ~ name ~ "\' is not in dbt/kpis.yml"',
        "    ) }}",
        "{%- endmacro %}",
        "",
        "{#- The data requirements: name, label, source system, reason stated when missing. -#}",
        "{% macro data_requirements() -%}",
        "    {{ return([",
    ]
    for index, (name, requirement) in enumerate(requirements.items()):
        comma = "," if index < len(requirements) - 1 else ""
        fields = ", ".join(
            f"{_jinja_string(key)}: {_jinja_string(_one_line(value))}"
            for key, value in (
                ("name", name),
                ("label", requirement.label),
                ("system", requirement.system),
                ("missing", requirement.missing),
            )
        )
        lines.append(f"        {{{fields}}}{comma}")
    lines += [
        "    ]) }}",
        "{%- endmacro %}",
        "",
        "{#- SQL that is true when the warehouse holds a data requirement's data. -#}",
        "{% macro data_requirement_present(name) -%}",
    ]
    for index, (name, requirement) in enumerate(requirements.items()):
        keyword = "if" if index == 0 else "elif"
        lines.append(f"    {{%- {keyword} name == {_jinja_string(name)} -%}}")
        present = requirement.present.strip().splitlines()
        lines += [f"        {line}".rstrip() for line in present]
    lines += [
        "    {%- else -%}",
        "        {{ exceptions.raise_compiler_error(",
        '            "data requirement \'" ~ name ~ "\' is not in dbt/kpis.yml"',
        "        ) }}",
        "    {%- endif -%}",
        "{%- endmacro %}",
        "",
    ]
    return lines


def render_dbt_docs(catalogue: Catalogue) -> str:
    """dbt doc blocks, one per KPI, for the marts' column descriptions."""
    out = [f"<!-- {GENERATED}. Do not edit: change dbt/kpis.yml. -->"]
    for kpi in catalogue.kpis:
        text = _one_line(kpi.description.en)
        text += f" Over several rows: `{_one_line(kpi.formula)}`."
        if kpi.thresholds:
            text += f" Thresholds: {_thresholds_text(kpi)}."
        text += " (KPI catalogue: dbt/kpis.yml, docs/kpis.md.)"
        out += ["", f"{{% docs {kpi.doc_block_name} %}}", text, "{% enddocs %}"]
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------------- Superset


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def superset_metrics(catalogue: Catalogue) -> dict[str, list[dict[str, Any]]]:
    """Per dataset (table_name), the KPI metrics' managed keys, in catalogue order."""
    metrics: dict[str, list[dict[str, Any]]] = {}
    for kpi in catalogue.kpis:
        for dataset in kpi.superset:
            metrics.setdefault(dataset, []).append(
                {
                    "metric_name": kpi.name,
                    "verbose_name": kpi.label.en,
                    "expression": kpi.formula_for(dataset),
                    "d3format": kpi.format,
                    "description": _one_line(kpi.description.en),
                    "currency": (catalogue.currency.superset() if kpi.unit == "currency" else None),
                }
            )
    return metrics


def _dataset_files(catalogue: Catalogue) -> dict[str, Path]:
    folder = PROJECT_ROOT / catalogue.datasets_dir
    files = {}
    for path in sorted(folder.glob("*.yaml")):
        files[yaml.safe_load(path.read_text(encoding="utf-8"))["table_name"]] = path
    return files


def _render_dataset(text: str, metrics: list[dict[str, Any]]) -> str:
    """The dataset YAML text with only its top-level `metrics:` block replaced."""
    try:
        return replace_yaml_block(text, "metrics", metrics)
    except ValueError as exc:
        raise CatalogueError(str(exc)) from exc


def _expected_dataset_metrics(
    existing: list[dict[str, Any]], wanted: list[dict[str, Any]], others: set[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The dataset's metrics after the sync (KPIs in catalogue order, then the others as they
    are) and the metrics that are neither a KPI nor declared in superset.other_metrics."""
    by_name = {m["metric_name"]: m for m in existing}
    kpi_names = {m["metric_name"] for m in wanted}
    result = []
    for managed in wanted:
        metric = {**METRIC_DEFAULTS, **copy.deepcopy(by_name.get(managed["metric_name"], {}))}
        metric.update(managed)
        ordered = {key: metric[key] for key in METRIC_KEY_ORDER if key in metric}
        ordered.update({k: v for k, v in metric.items() if k not in ordered})
        result.append(ordered)
    undeclared = []
    for metric in existing:
        if metric["metric_name"] in kpi_names:
            continue
        result.append(metric)
        if metric["metric_name"] not in others:
            undeclared.append(metric["metric_name"])
    return result, undeclared


def _metric_differences(
    existing: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> list[str]:
    details = entry_differences(
        "metric", "metric_name", existing, expected, MANAGED_METRIC_KEYS, "the catalogue"
    )
    if not details and [m["metric_name"] for m in existing] != [m["metric_name"] for m in expected]:
        details.append("metrics are not in catalogue order")
    return details


def sync_superset_metrics(write: bool, catalogue: Catalogue | None = None) -> list[Drift]:
    """Compare (and with ``write``, rewrite) the Superset datasets' metrics with the catalogue.

    Only the catalogue KPIs' metric_name, verbose_name, expression, d3format, description and
    currency are set; the rest of each file (UUIDs, columns, other metrics and keys) is kept
    byte for byte. Returns the drift found before writing. A metric that is neither a KPI nor
    listed in superset.other_metrics is drift that ``write`` cannot fix (add it to the catalogue).
    """
    catalogue = catalogue if catalogue is not None else load_catalogue()
    wanted = superset_metrics(catalogue)
    files = _dataset_files(catalogue)
    drift = []
    for dataset in sorted(set(wanted) - set(files)):
        drift.append(
            Drift(
                catalogue.datasets_dir / f"{dataset}.yaml",
                (f"no Superset dataset {dataset!r} for the catalogue's KPIs",),
            )
        )
    for dataset, path in files.items():
        text = path.read_text(encoding="utf-8")
        existing = yaml.safe_load(text).get("metrics") or []
        expected, undeclared = _expected_dataset_metrics(
            existing, wanted.get(dataset, []), set(catalogue.other_metrics.get(dataset, ()))
        )
        details = _metric_differences(existing, expected)
        details += [
            f"metric {name}: not in the catalogue (add it as a KPI or to superset.other_metrics)"
            for name in undeclared
        ]
        new_text = _render_dataset(text, expected)
        if new_text != text and not details:
            details.append("metrics block is not formatted as the generator writes it")
        if details:
            drift.append(Drift(path, tuple(details)))
        if write and new_text != text:
            path.write_text(new_text, encoding="utf-8")
    return drift


# --------------------------------------------------------------------------------------- docs


def _cell(text: Any) -> str:
    return _one_line(text).replace("|", "\\|")


def _code(text: Any) -> str:
    return "`" + _cell(text) + "`"


_DIRECTION_TEXT = {
    "higher_is_better": "higher is better",
    "lower_is_better": "lower is better",
    "neutral": "neutral",
}


def _thresholds_text(kpi: Kpi) -> str:
    if not kpi.thresholds:
        return "none"
    red, green = kpi.thresholds.red, kpi.thresholds.green
    better, worse = (">=", "<=") if kpi.direction == "higher_is_better" else ("<=", ">=")
    return f"green {better} {green}; amber between {red} and {green}; red {worse} {red}"


def render_docs(catalogue: Catalogue) -> str:
    """docs/kpis.md: a summary table, then a table per KPI."""
    grains = catalogue.grains
    out = [
        "# KPI reference",
        "",
        f"<!-- {GENERATED}. Do not edit: change dbt/kpis.yml. -->",
        "",
        "Every KPI is defined once, in [`dbt/kpis.yml`](../dbt/kpis.yml). The dbt marts (through",
        "the macros `kpi()` and `kpi_threshold()`), the Superset datasets' saved metrics and this",
        "page are generated from it; `pilotage kpis --check` (and",
        "`tests/unit/test_kpi_catalogue.py`) fail when one of them drifts.",
        "",
        "- **Formula**: the aggregate over any set of rows of the grain (a team, a quarter, ...).",
        "  Ratios are ratios of sums, never averages of ratios; Superset uses these formulas.",
        "- **Row formula**: how the mart computes the KPI's column for one row of the grain.",
        "- **Column**: the marts' column carrying the KPI (its name, unless another grain's KPI",
        "  has that name). Unit `metric`: the unit of the row's metric (long marts such as",
        "  `kpi_objectives`: an amount for revenue, a count for calls).",
        "- **Thresholds**: green at or better than the green value, red at or worse than the red",
        "  value, amber in between. Direction `neutral`: neither higher nor lower is better",
        "  (targets).",
        f"- **Currency**: the dashboards show every KPI of unit `currency` in"
        f" {catalogue.currency.symbol},",
        f"  written as a {catalogue.currency.symbol_position} (`superset.currency` in the"
        " catalogue, the Superset",
        "  metrics' `currency`).",
        "",
        "## Summary",
        "",
        "| KPI | English | Français | Unit | Format | Direction | Additive | Thresholds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kpi in catalogue.kpis:
        out.append(
            f"| [`{kpi.name}`](#{kpi.name}) | {_cell(kpi.label.en)}"
            f" | {_cell(kpi.label.fr)} | {kpi.unit} | `{kpi.format}`"
            f" | {_DIRECTION_TEXT[kpi.direction]} | {'yes' if kpi.additive else 'no'}"
            f" | {_thresholds_text(kpi)} |"
        )
    out += [
        "",
        "## Data requirements",
        "",
        "What the delivered data must hold for a KPI to be computed (a KPI's **Requires**). When",
        "one is missing the marts leave the KPI empty, never 0, and `marts.kpi_availability` says",
        "why; `pilotage map-crm` reports which KPIs a mapped export supports.",
        "",
        "| Requirement | What | System | Canonical columns | When missing |",
        "|---|---|---|---|---|",
    ]
    for name, requirement in catalogue.data_requirements.items():
        needs = "; ".join(
            f"{obj}: {', '.join(columns)}" for obj, columns in requirement.needs.items()
        )
        out.append(
            f"| `{name}` | {_cell(requirement.label)} | {requirement.system.upper()}"
            f" | {_cell(needs)} | {_cell(requirement.missing)} |"
        )
    for kpi in catalogue.kpis:
        grain_text = "<br>".join(
            f"`{grains[g].model}`: {_cell(grains[g].description)}" for g in kpi.grains
        )
        datasets = ", ".join(
            f"`{name}`" + (f" (`{_cell(expression)}`)" if expression else "")
            for name, expression in kpi.superset.items()
        )
        rows = [
            ("English", _cell(kpi.label.en)),
            ("Français", _cell(kpi.label.fr)),
            ("Description", _cell(kpi.description.en)),
            ("Description (français)", _cell(kpi.description.fr)),
            ("Formula", _code(kpi.formula)),
            (
                "Row formula",
                _code(kpi.row_formula) if kpi.row_formula is not None else "none",
            ),
            ("Row source", _cell(kpi.row_source)),
            ("Grain", grain_text),
            ("Column", f"`{kpi.column}`"),
            ("Unit", kpi.unit),
            ("Format", f"`{kpi.format}`"),
            ("Direction", _DIRECTION_TEXT[kpi.direction]),
            ("Additive", "yes" if kpi.additive else "no"),
            ("Requires", ", ".join(f"[{r}](#data-requirements)" for r in kpi.requires)),
            ("Thresholds", _thresholds_text(kpi)),
            ("Superset datasets", datasets or "none"),
        ]
        out += ["", f"## {kpi.name}", "", "| | |", "|---|---|"]
        out += [f"| {key} | {value} |" for key, value in rows]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------ check / write


def sync_all(
    write: bool,
    catalogue: Catalogue | None = None,
    manifest: Mapping[str, Any] | None = None,
) -> list[Drift]:
    """Drift of every derived file (and with ``write``, regenerate them). With the dbt
    ``manifest``, the Superset datasets' columns too (pilotage/superset_columns.py)."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    drift = [
        sync_file(DBT_MACRO_PATH, render_dbt_macros(catalogue), write, DIFFERS),
        sync_file(DBT_DOCS_PATH, render_dbt_docs(catalogue), write, DIFFERS),
        sync_file(DOCS_PATH, render_docs(catalogue), write, DIFFERS),
    ]
    drift = [d for d in drift if d] + sync_superset_metrics(write, catalogue)
    if manifest is not None:
        files = _dataset_files(catalogue)
        drift += superset_columns.sync_superset_columns(write, catalogue, files, manifest)
    return drift


def run(
    write: bool,
    echo: Callable[[str], None] = print,
    manifest: Mapping[str, Any] | None = None,
) -> int:
    """The command: 0 when everything matches the catalogue and the dbt ``manifest`` (or was
    written), else 1."""
    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        echo(str(exc))
        return 1
    drift = sync_all(write, catalogue, manifest)
    if write:
        remaining = sync_all(False, catalogue, manifest)
        for item in drift:
            echo(f"regenerated {relative(item.path)}")
        for item in remaining:
            echo(f"cannot fix: {item}")
        return 1 if remaining else 0
    for item in drift:
        echo(f"drift: {item}")
    if drift:
        echo("Run `pilotage kpis --write` to regenerate from dbt/kpis.yml and the dbt models.")
        return 1
    columns = ", Superset columns" if manifest is not None else ""
    echo(
        f"{len(catalogue.kpis)} KPIs: dbt macros, Superset metrics{columns} and docs are up to"
        " date."
    )
    return 0
