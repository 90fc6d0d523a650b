"""The landing-file source: dlt sources for the CRM and ERP extract files declared in
``ingestion.extracts``.

One resource per extract, named after its raw table, merged on its primary key and cursor column
(delete-insert): the raw table keeps every version of a record once, whatever the re-deliveries,
late or out-of-order files; dbt staging picks the latest version. Files already loaded (known by
their content in the resource state) are not read again. Files are read with pyarrow using the
declared column types and yielded as arrow tables whose column names are already dlt's snake_case
(``OwnerId`` -> ``owner_id``, ``Meeting_Status__c`` -> ``meeting_status_c``), plus ``_source_file``
(the file name) for lineage. A file that cannot be read as declared raises ``ExtractFileError``
naming the file, the line (or Parquet row) and the column. A row with a bad value (type, enum, empty
key or cursor, wrong number of fields, conflicting duplicate) is left out and listed by the source's
``quarantine`` resource in ``raw_<system>.quarantine`` (``ingestion.quarantine``), or, under
``on_bad_row: fail``, raises like a bad file: no row is dropped silently.

Schema contracts (ingestion/README.md, "Schema contracts"): before loading, each resource checks
the raw table in the warehouse against the declared types (``SchemaContractError`` naming table,
column, both types and the way out), with ``ingestion.contracts``.

Files are CSV, JSON Lines or Parquet (``<Object>_<drop>.csv|.jsonl|.parquet``); delimiter, decimal
mark and encoding of each system's files are declared in the landing configuration
(``ingestion.formats``, ``ingestion/landing.yaml``), by default UTF-8 comma CSV with ``.``
decimals.

Importing this module and calling ``crm_source`` / ``erp_source`` reads nothing: files (and the
landing configuration) are read when the pipeline extracts.

Laid out as dlt's verified sources are: this module holds the ``@dlt.source`` functions and their
resources; ``readers`` reads one file (CSV, JSON Lines, Parquet, with the declared locale),
``validation`` checks its rows, ``helpers`` lists and fingerprints files, ``settings`` holds the
constants; the warehouse side (column names, types, schema contracts) is ``ingestion.contracts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import dlt
import pyarrow as pa

from ingestion.contracts import (
    LOAD_ID_COLUMN,
    SchemaContractError,
    check_raw_table,
    current_pipeline,
    raw_column_types,
    version_key,
)
from ingestion.extracts import Extract, extracts_of
from ingestion.formats import ExtractFileError, load_landing_config
from ingestion.landing_files.helpers import (
    empty_extract_table,
    extract_files,
    file_digest,
    file_key,
)
from ingestion.landing_files.readers import read_extract_file
from ingestion.quarantine import (
    QUARANTINE_COLUMNS,
    QUARANTINE_KEY,
    QUARANTINE_TABLE,
    BadRow,
    quarantine_table,
    read_quarantine_files,
)

__all__ = [
    "SOURCES",
    "BadRow",
    "ExtractFileError",
    "SchemaContractError",
    "crm_source",
    "empty_quarantine_resource",
    "erp_source",
    "extract_resource",
    "quarantine_resource",
    "read_extract_file",
]

logger = logging.getLogger(__name__)


def extract_resource(
    extract: Extract,
    landing_dir: Path,
    landing_config: str | None = None,
    found: dict | None = None,
    enabled: bool = True,
):
    """The dlt resource that loads every file of one extract, oldest drop first.

    Every version of a record lands once: the raw table is merged on (id, cursor), so a record
    delivered again (a re-delivered drop, the same record in two drops) replaces itself, and a
    late or out-of-order file adds its older versions without overwriting newer ones. Files
    already loaded (same content, recorded in the resource state, which dlt keeps in the
    destination) are not read again.

    ``landing_config``: a landing configuration YAML file; by default ``$PILOTAGE_LANDING_CONFIG``
    or ``ingestion/landing.yaml``, read when the resource runs. Under ``on_bad_row: quarantine``
    bad rows are left out, and kept in ``found`` (file -> bad rows) for the ``quarantine``
    resource; under ``fail`` the first raises ``ExtractFileError``.

    A system the company does not have (``enabled`` false, PILOTAGE_SOURCES) reads no file, and
    an object never delivered gets an empty raw table: the models build and say what is missing.
    """
    landing_dir = Path(landing_dir)

    def with_load_id(table: pa.Table) -> pa.Table:
        # arrow tables get no _dlt_load_id from dlt by default: add it, as for JSON rows
        load_id = dlt.current.load_package_state()["load_id"]
        return table.append_column(
            LOAD_ID_COLUMN, pa.array([load_id] * table.num_rows, pa.string())
        )

    def read_files() -> Iterator[pa.Table]:
        # the raw table as it is in the warehouse: its declared columns keep their types
        existing = raw_column_types(current_pipeline(), extract.table)
        if not enabled:
            if not existing:
                yield with_load_id(empty_extract_table(extract))
            return
        fmt = load_landing_config(landing_config).format_of(extract.system, extract.object_name)
        # content digest -> file name of every file loaded; forgotten when the raw table is gone
        loaded = dlt.current.resource_state().setdefault("loaded_files", {})
        if not existing:
            loaded.clear()
        files = [
            (path, digest)
            for path in extract_files(extract, landing_dir, fmt)
            if (digest := file_digest(path)) not in loaded
        ]
        if not files:
            check_raw_table(extract, existing)
            if not existing:
                yield with_load_id(empty_extract_table(extract))
        for path, digest in files:
            bad = [] if fmt.on_bad_row == "quarantine" else None
            table = read_extract_file(extract, path, fmt, bad_rows=bad)
            check_raw_table(extract, existing, table, path.name)
            if found is not None and bad is not None:
                found[file_key(path)] = bad
            if bad:
                logger.warning(
                    "%s: rows with %d bad field(s) left out of raw_%s.%s, listed in raw_%s.%s",
                    path,
                    len(bad),
                    extract.system,
                    extract.table,
                    extract.system,
                    QUARANTINE_TABLE,
                )
            loaded[digest] = path.name
            # A header-only file still yields its (empty, typed) table: the raw table exists,
            # so dbt's sources resolve for a CRM that does not export this object.
            yield with_load_id(table)

    return dlt.resource(
        read_files,
        name=extract.table,
        primary_key=version_key(extract),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        schema_contract={"data_type": "freeze"},
    )


def quarantine_resource(
    system: str, landing_dir: Path, landing_config: str | None = None, found: dict | None = None
):
    """The ``quarantine`` resource of a system: one row per bad field of every landing file of
    an object declared ``on_bad_row: quarantine``, merged on (source_file, line, field), so that
    re-running on the same files does not duplicate them. Always yields a table (maybe empty):
    ``raw_<system>.quarantine`` exists after the first load.

    Every file is checked, not only those with rows newer than the incremental cursor: a bad row
    stays listed (with the latest ``load_id`` that found it) while its file is in the landing
    folder. ``found`` holds what the extract resources already found in this run. The rows set
    aside before landing (``pilotage map-crm``: ``<landing>/<system>/_quarantine/*.csv``) are
    listed too."""
    landing_dir = Path(landing_dir)
    found = {} if found is None else found

    def find_bad_rows() -> Iterator[pa.Table]:
        config = load_landing_config(landing_config)
        load_id = dlt.current.load_package_state()["load_id"]
        bad_rows: list[BadRow] = []
        for extract in extracts_of(system):
            fmt = config.format_of(extract.system, extract.object_name)
            if fmt.on_bad_row != "quarantine":
                continue
            for path in extract_files(extract, landing_dir, fmt):
                key = file_key(path)
                if key not in found:
                    bad: list[BadRow] = []
                    read_extract_file(extract, path, fmt, bad_rows=bad)
                    found[key] = bad
                bad_rows.extend(found[key])
        bad_rows.extend(read_quarantine_files(landing_dir, system))
        yield quarantine_table(bad_rows, load_id)

    return _as_quarantine_resource(find_bad_rows)


def empty_quarantine_resource():
    """A ``quarantine`` resource that finds nothing, for sources whose values are typed by the
    source system (the ERP database): ``raw_erp`` gets the same tables whatever the source."""

    def nothing_found() -> Iterator[pa.Table]:
        yield quarantine_table([], dlt.current.load_package_state()["load_id"])

    return _as_quarantine_resource(nothing_found)


def _as_quarantine_resource(rows):
    """The ``quarantine`` table: merged on its key, so a reloaded file's bad rows land once."""
    return dlt.resource(
        rows,
        name=QUARANTINE_TABLE,
        primary_key=list(QUARANTINE_KEY),
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        columns=QUARANTINE_COLUMNS,
    )


def _resources(
    system: str, landing_dir: Path, landing_config: str | None, enabled: bool = True
) -> list:
    found: dict = {}  # file -> bad rows, shared by the resources of one source
    resources = [
        extract_resource(e, landing_dir, landing_config, found, enabled)
        for e in extracts_of(system)
    ]
    if not enabled:
        return [*resources, empty_quarantine_resource()]
    return [*resources, quarantine_resource(system, landing_dir, landing_config, found)]


@dlt.source(name="crm")
def crm_source(landing_dir: Path, landing_config: str | None = None, enabled: bool = True):
    """CRM extracts (Salesforce-style objects) from ``<landing>/crm/<Object>/``; with
    ``enabled`` false (a company without a CRM), empty raw tables and no file read."""
    return _resources("crm", landing_dir, landing_config, enabled)


@dlt.source(name="erp")
def erp_source(landing_dir: Path, landing_config: str | None = None, enabled: bool = True):
    """ERP extracts (customers, products, orders, invoices) from ``<landing>/erp/<object>/``;
    with ``enabled`` false (a company without an ERP), empty raw tables and no file read."""
    return _resources("erp", landing_dir, landing_config, enabled)


SOURCES: dict[str, Callable] = {"crm": crm_source, "erp": erp_source}
