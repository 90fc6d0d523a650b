"""How long generating and loading take at multiples of the demo, and the peak memory of each.

For every multiple (``--multiples 1,10,100``) the script, in a work folder of its own:

1. generates the demo extracts at that scale (``ingestion.demo.generator.generate``);
2. loads them with the real ingestion pipeline (``ingestion.pipeline.load`` for crm and erp) into
   a fresh DuckDB file, and reads dlt's own step times (extract, normalize, load) from its trace;
3. reads the same files with DuckDB's own ``read_csv`` into tables of the same column types, in
   another fresh DuckDB file: the floor that the dlt load is compared with.

Each step runs in a child process so that its wall time and peak resident memory (``ru_maxrss``
of that child, from ``os.wait4``) are its own. The results go to ``results.json`` and
``results.md`` in the work folder (docs/scale.md shows them). The load average is recorded
beside every step: on a shared machine, other jobs slow the figures down.

    .tools/bin/uv run --frozen python scripts/benchmark_scale.py --multiples 1,10 \\
        --work-dir /tmp/scale
    .tools/bin/uv run --frozen python scripts/benchmark_scale.py --multiples 67 --profile large

Not part of the test suite (tests/e2e/test_benchmark_scale.py only proves it runs at a tiny scale).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 15)
SEED = 42
STEPS = ("generate", "dlt_load", "duckdb_read_csv")


def log(message: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {message}", flush=True)


# ---------------------------------------------------------------------------------------------
# The steps, each run in its own child process (``benchmark_scale.py step <name> ...``).


def step_generate(run_dir: Path, scale: float, profile: str) -> dict:
    from ingestion.demo.generator import generate

    rows = generate(run_dir / "landing", seed=SEED, scale=scale, as_of=AS_OF, profile=profile)
    return {"rows": rows}


def _settings(run_dir: Path, name: str):
    from pilotage.settings import Settings

    data_dir = run_dir / name
    return Settings(
        data_dir=data_dir,
        landing_dir=run_dir / "landing",
        warehouse_path=data_dir / "warehouse.duckdb",
        serving_path=data_dir / "serving.duckdb",
        as_of=AS_OF,
    )


def _table_rows(warehouse: Path, schemas: tuple[str, ...]) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({', '.join('?' for _ in schemas)}) "
            "and table_name not like '\\_dlt%' escape '\\' order by 1, 2",
            list(schemas),
        ).fetchall()
        return {
            f"{schema}.{table}": con.execute(
                f'select count(*) from "{schema}"."{table}"'
            ).fetchone()[0]
            for schema, table in tables
        }


def step_dlt_load(run_dir: Path, cprofile: bool) -> dict:
    from ingestion.pipeline import SYSTEMS, load, make_pipeline

    settings = _settings(run_dir, "dlt")
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    profiler = cProfile.Profile() if cprofile else None
    phases: dict[str, dict[str, float]] = {}
    for system in SYSTEMS:
        started = time.monotonic()
        if profiler:
            profiler.enable()
        load(system, settings, progress=None)
        if profiler:
            profiler.disable()
        trace = make_pipeline(
            system, settings.warehouse_path, settings.dlt_pipelines_dir
        ).last_trace
        phases[system] = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in trace.steps
            if step.finished_at is not None
        }
        phases[system]["total"] = time.monotonic() - started
    result = {
        "dlt_steps": phases,
        "loaded_rows": _table_rows(settings.warehouse_path, tuple(f"raw_{s}" for s in SYSTEMS)),
    }
    if profiler:
        path = run_dir / "dlt_load.pstats"
        profiler.dump_stats(str(path))
        result["cprofile"] = str(path)
    return result


def step_duckdb_read_csv(run_dir: Path) -> dict:
    """Every extract file into a table with DuckDB's ``read_csv`` and the declared column types:
    what loading costs with no checks, no merge and no dlt."""
    import duckdb

    from ingestion.contracts import warehouse_type
    from ingestion.extracts import ALL_EXTRACTS

    warehouse = run_dir / "duckdb" / "warehouse.duckdb"
    shutil.rmtree(warehouse.parent, ignore_errors=True)
    warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        for system in sorted({e.system for e in ALL_EXTRACTS}):
            con.execute(f"create schema raw_{system}")
        for extract in ALL_EXTRACTS:
            files = [str(path) for path in extract.files(run_dir / "landing")]
            columns = {name: warehouse_type(t) for name, t in extract.columns.items()}
            spec = ", ".join(f"'{name}': '{sql_type}'" for name, sql_type in columns.items())
            con.execute(
                f"create table raw_{extract.system}.{extract.table} as select * from "
                f"read_csv(?, header = true, columns = {{{spec}}})",
                [files],
            )
        reps = con.execute(
            "select count(distinct id) from raw_crm.users where title = 'Account Executive'"
        ).fetchone()[0]
    return {"loaded_rows": _table_rows(warehouse, ("raw_crm", "raw_erp")), "reps": reps}


def run_step(args: argparse.Namespace) -> None:
    # imports first (dlt alone takes seconds): the clock times the work, not Python starting
    import duckdb  # noqa: F401

    import ingestion.demo.generator  # noqa: F401
    import ingestion.pipeline  # noqa: F401

    run_dir = Path(args.run_dir)
    started = time.monotonic()
    if args.name == "generate":
        result = step_generate(run_dir, args.scale, args.profile)
    elif args.name == "dlt_load":
        result = step_dlt_load(run_dir, args.cprofile)
    else:
        result = step_duckdb_read_csv(run_dir)
    result["seconds"] = round(time.monotonic() - started, 1)
    (run_dir / f"{args.name}.step.json").write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------------------------------------
# The driver: one child per step, timed and measured from here.


def measure(run_dir: Path, name: str, extra: list[str]) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "step", name, str(run_dir), *extra]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=PROJECT_ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"step {name} failed (exit {child.returncode}): {' '.join(command)}")
    result = json.loads((run_dir / f"{name}.step.json").read_text())
    result.update(
        process_seconds=round(seconds, 1),
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 1),
        peak_rss_mib=round(usage.ru_maxrss / 1024),  # Linux reports KiB
        load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
    )
    return result


def landing_mib(run_dir: Path) -> int:
    landing = run_dir / "landing"
    return round(sum(p.stat().st_size for p in landing.rglob("*.csv")) / 2**20)


def benchmark(
    multiple: float, profile: str, work_dir: Path, cprofile: int | None, keep: bool
) -> dict:
    """Generate, load with dlt, read with DuckDB; ``cprofile``: lines of the dlt profile to show."""
    label = f"x{multiple:g}" + ("" if profile == "demo" else f"-{profile}")
    run_dir = work_dir / label
    reuse = keep and (run_dir / "generate.result.json").exists()
    if not reuse:
        shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"label": label, "scale": multiple, "profile": profile}
    if reuse:
        log(f"{label}: reusing the extracts of an earlier run in {run_dir / 'landing'}")
        results["generate"] = json.loads((run_dir / "generate.result.json").read_text())
    else:
        log(f"{label}: generating the extracts (scale {multiple:g}, profile {profile})")
        results["generate"] = measure(
            run_dir, "generate", ["--scale", str(multiple), "--profile", profile]
        )
        (run_dir / "generate.result.json").write_text(json.dumps(results["generate"]))
    results["landing_mib"] = landing_mib(run_dir)
    log(f"{label}: {results['landing_mib']} MiB of CSV; loading with dlt")
    results["dlt_load"] = measure(run_dir, "dlt_load", ["--cprofile"] if cprofile else [])
    log(f"{label}: dlt load took {results['dlt_load']['seconds']} s; DuckDB read_csv")
    if cprofile:
        log(f"{label}: where the dlt load spent its time (cumulative; threads not seen)")
        stats = pstats.Stats(results["dlt_load"].pop("cprofile"))
        stats.sort_stats("cumulative").print_stats(cprofile)
    results["duckdb_read_csv"] = measure(run_dir, "duckdb_read_csv", [])
    ratio = results["dlt_load"]["seconds"] / max(results["duckdb_read_csv"]["seconds"], 0.01)
    results["dlt_to_read_csv"] = round(ratio, 1)
    # on a shared machine CPU time is steadier than wall time
    cpu_ratio = results["dlt_load"]["cpu_seconds"] / max(
        results["duckdb_read_csv"]["cpu_seconds"], 0.1
    )
    results["dlt_to_read_csv_cpu"] = round(cpu_ratio, 1)
    log(
        f"{label}: read_csv took {results['duckdb_read_csv']['seconds']} s "
        f"(dlt / read_csv = {results['dlt_to_read_csv']})"
    )
    # the same rows on both sides, or the comparison means nothing
    dlt_rows = results["dlt_load"]["loaded_rows"]
    csv_rows = results["duckdb_read_csv"]["loaded_rows"]
    results["rows_differ"] = {
        t: [dlt_rows.get(t), n] for t, n in csv_rows.items() if dlt_rows.get(t) != n
    }
    if not keep:
        shutil.rmtree(run_dir)  # extracts and warehouses: gigabytes at scale
    return results


ACTIVITY_TABLES = ("raw_crm.tasks", "raw_crm.events")


def markdown(runs: list[dict]) -> str:
    lines = [
        "| Run | Reps | Activities | Opportunities | Invoice lines | All rows | CSV MiB "
        "| Generate s (peak MiB) | dlt load s (peak MiB) | read_csv s (peak MiB) "
        "| dlt / read_csv, wall (CPU) | Load avg after each step |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        rows = run["duckdb_read_csv"]["loaded_rows"]
        reps = run["duckdb_read_csv"]["reps"]
        loads = [run[s]["load_average"][1] for s in STEPS]
        lines.append(
            f"| {run['label']} | {reps:,} | {sum(rows[t] for t in ACTIVITY_TABLES):,} "
            f"| {rows['raw_crm.opportunities']:,} | {rows['raw_erp.invoice_lines']:,} "
            f"| {sum(rows.values()):,} | {run['landing_mib']:,} "
            + " ".join(f"| {run[s]['seconds']:,} ({run[s]['peak_rss_mib']:,})" for s in STEPS)
            + f" | {run['dlt_to_read_csv']} ({run['dlt_to_read_csv_cpu']})"
            + f" | {' / '.join(f'{x:.1f}' for x in loads)} |"
        )
    steps = ["", "dlt steps (seconds, per system: extract / normalize / load / total):", ""]
    for run in runs:
        parts = []
        for system, phases in run["dlt_load"]["dlt_steps"].items():
            shown = " / ".join(
                f"{phases.get(p, 0):.1f}" for p in ("extract", "normalize", "load", "total")
            )
            parts.append(f"{system} {shown}")
        steps.append(f"- {run['label']}: " + "; ".join(parts))
    return "\n".join(lines + steps) + "\n"


def machine() -> dict:
    with open("/proc/meminfo") as handle:
        mem_kib = int(handle.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def run_benchmark(args: argparse.Namespace) -> None:
    multiples = [float(x) for x in args.multiples.split(",") if x.strip()]
    work_dir = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="scale-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    log(f"work folder {work_dir}; multiples {multiples}, profile {args.profile}")
    report = {"machine": machine(), "command": " ".join(sys.argv), "runs": []}
    for multiple in multiples:
        cprofile = args.cprofile_lines if args.cprofile else None
        report["runs"].append(benchmark(multiple, args.profile, work_dir, cprofile, args.keep))
        (work_dir / "results.json").write_text(json.dumps(report, indent=2))
    table = markdown(report["runs"])
    (work_dir / "results.md").write_text(table)
    print(table)
    log(f"results in {work_dir / 'results.json'} and {work_dir / 'results.md'}")
    if not args.keep and not args.work_dir:
        shutil.rmtree(work_dir)


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="benchmark_scale.py",
        description=__doc__.split("\n\n")[0],
        epilog="Results: <work-dir>/results.json and results.md. See docs/scale.md.",
    )
    main.add_argument(
        "--multiples",
        default="1,10,100",
        help="Comma-separated multiples of the demo size (generator scale). Default: 1,10,100.",
    )
    main.add_argument(
        "--profile",
        default="demo",
        choices=("demo", "large"),
        help="Generator profile: 'large' has busier reps and longer orders (scale 67 reaches "
        "10 million activities and 2 million invoice lines). Default: demo.",
    )
    main.add_argument(
        "--work-dir",
        help="Folder for extracts and warehouses (needs about 0.3 GiB per multiple of the "
        "large profile). Default: a new temporary folder, removed at the end.",
    )
    main.add_argument(
        "--keep",
        action="store_true",
        help="Keep extracts and warehouses; with --work-dir, reuse extracts generated by an "
        "earlier run of the same multiple and profile (its generation figures are reported).",
    )
    main.add_argument(
        "--cprofile",
        action="store_true",
        help="Run the dlt load under cProfile and print where its time goes.",
    )
    main.add_argument(
        "--cprofile-lines", type=int, default=40, help="Lines of the profile to print."
    )
    steps = main.add_subparsers(dest="command")
    step = steps.add_parser("step", help="(internal) run one measured step in this process")
    step.add_argument("name", choices=STEPS)
    step.add_argument("run_dir")
    step.add_argument("--scale", type=float, default=1.0)
    step.add_argument("--profile", default="demo")
    step.add_argument("--cprofile", action="store_true")
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "step":
        run_step(args)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
