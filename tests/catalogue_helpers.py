"""The KPI catalogue's formulas as dbt renders them, without dbt.

The catalogue (dbt/kpis.yml, ``pilotage.kpi_catalogue``) derives the dbt macros ``kpi`` and
``kpi_threshold``; a KPI's row formula is Jinja calling dbt macros (``type_double``,
``round_ratio_of``, ``exceptions``). ``render`` renders such text with stand-ins for them, so
that the unit tests (tests/unit/test_kpi_catalogue.py) check the generated macros and the warehouse
test (tests/warehouse/test_kpi_catalogue_compiled.py) finds each formula in the SQL dbt compiled;
``squash`` makes SQL comparable whatever its layout.
"""

from __future__ import annotations

import functools

import jinja2

from pilotage import kpi_catalogue as kc


def squash(sql: str) -> str:
    """The SQL on one line, every run of whitespace one space."""
    return " ".join(sql.split())


def grain_models(catalogue: kc.Catalogue, kpi: kc.Kpi) -> list[str]:
    """The marts of the KPI's grains."""
    return [catalogue.grains[grain].model for grain in kpi.grains]


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str) -> None:
        raise ValueError(message)


def _round_ratio_of(caller) -> str:
    return f"round_ratio({caller().strip()})"


@functools.cache
def _template(template: str) -> jinja2.Template:
    """Compiled once per text: the macros file is rendered once per KPI and threshold."""
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template)


def render(template: str, **context) -> str:
    return _template(template).render(
        type_double=lambda: "double precision",
        round_ratio_of=_round_ratio_of,
        exceptions=_Exceptions,
        **context,
    )
