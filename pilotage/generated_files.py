"""Files generated from a YAML source of truth, and the check that they have not drifted from it.

The KPI catalogue (dbt/kpis.yml -> dbt macros, doc blocks, Superset metrics, docs/kpis.md) and the
challenges (challenges/*.yml -> dbt/seeds/challenges/*.csv) work the same way: a generator renders
each derived file's text; ``sync_file`` compares it with the file on disk and, when asked,
rewrites it; every difference is a ``Drift`` that the ``check`` commands report (exit 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pilotage.settings import PROJECT_ROOT


def relative(path: Path | str) -> str:
    """``path`` relative to the repository when it is inside it (messages name files that way)."""
    try:
        return str(Path(path).relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Drift:
    """A derived file that differs from what its source generates, and how."""

    path: Path
    details: tuple[str, ...]

    def __str__(self) -> str:
        return relative(self.path) + "".join(f"\n    {line}" for line in self.details)


def sync_file(path: Path, expected: str, write: bool, differs: str) -> Drift | None:
    """None when ``path`` holds ``expected``; else the drift (``differs`` says from what, e.g.
    "differs from what dbt/kpis.yml generates") and, with ``write``, the file rewritten."""
    current = path.read_text(encoding="utf-8") if path.exists() else None
    if current == expected:
        return None
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(expected, encoding="utf-8")
    if current is None:
        return Drift(path, ("missing",))
    return Drift(path, (differs,))


class NoAliasDumper(yaml.SafeDumper):
    """Superset's YAML style: no anchors or aliases for repeated values."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def replace_yaml_block(text: str, key: str, value: Any) -> str:
    """``text`` (a Superset asset YAML) with only its top-level ``key:`` block replaced by
    ``value``, written as Superset exports it; comments and every other key are kept byte for
    byte. Raises ValueError when the file has no such key."""
    block = yaml.dump(
        {key: value}, Dumper=NoAliasDumper, sort_keys=False, allow_unicode=True, width=100, indent=2
    )
    match = re.compile(rf"^{key}:.*\n(?:(?:[ -].*)?\n)*", re.MULTILINE).search(text)
    if match is None:
        raise ValueError(f"a dataset file has no top-level `{key}:` key")
    return text[: match.start()] + block + text[match.end() :]


def entry_differences(
    kind: str,
    key: str,
    existing: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    managed_keys: tuple[str, ...],
    source: str,
) -> list[str]:
    """The entries of a generated YAML list (a dataset's metrics or columns, named by ``key``)
    that are missing or whose ``managed_keys`` differ from ``expected``, one line per entry and
    key: "metric revenue: d3format is ',d', the catalogue says ',.0f'"."""
    before = {entry[key]: entry for entry in existing}
    details = []
    for name, entry in ((e[key], e) for e in expected):
        if name not in before:
            details.append(f"{kind} {name}: missing")
            continue
        for field in managed_keys:
            if before[name].get(field) != entry.get(field):
                details.append(
                    f"{kind} {name}: {field} is {before[name].get(field)!r}, "
                    f"{source} says {entry.get(field)!r}"
                )
    return details
