"""The `pilotage` command line: one click group above the core (`pilotage`), the ingestion
(`ingestion`) and the orchestration (`dagster_project`), one module per family of commands.

- ``pilotage_cli.app``: the root group ``main`` and what every command shares (options, settings);
- ``pilotage_cli.warehouse``: generate, dbt-parse, refresh, check, publish, demo;
- ``pilotage_cli.crm``: map-crm, quarantine (another CRM's export, the rows set aside);
- ``pilotage_cli.kpis``: kpis (the KPI catalogue's generated files);
- ``pilotage_cli.challenges``: challenges validate|check|write|replay;
- ``pilotage_cli.servers``: serve, superset bootstrap|serve;
- ``pilotage_cli.backup``: backup, restore.
- ``pilotage_cli.production``: production up (docker-compose.yml's services as local processes).

Nothing below this package imports it: the arrows run from here down.
"""

from pilotage_cli import backup, challenges, crm, kpis, production, servers, warehouse
from pilotage_cli.app import main

for command in (
    warehouse.generate,
    crm.map_crm,
    crm.quarantine,
    kpis.kpis,
    warehouse.dbt_parse,
    warehouse.refresh,
    warehouse.check,
    warehouse.publish,
    servers.superset,
    servers.serve,
    backup.backup,
    backup.restore,
    production.production_group,
    warehouse.demo,
    challenges.challenges,
):
    main.add_command(command)

__all__ = ["main"]
