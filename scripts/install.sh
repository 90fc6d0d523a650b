#!/usr/bin/env bash
# Installs both pinned environments with uv, using this machine's Python (never a downloaded one):
#   .tools/         a tiny venv holding the pinned uv itself
#   .venv/          the pipeline: dagster, dlt, dbt, great-expectations (pyproject.toml + uv.lock)
#   .venv-superset/ Superset 6.1 with its own pins (superset/requirements.txt)
# Both pin the same DuckDB version (one warehouse file format). Safe to re-run: a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.8"
PYTHON="${PILOTAGE_PYTHON:-python3}"
export UV_PYTHON_DOWNLOADS=never UV_PYTHON_PREFERENCE=only-system

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "pilotage needs Python >= 3.11; '$PYTHON' is $("$PYTHON" --version 2>&1)." >&2
    echo "Install Python 3.11+ and re-run, or point PILOTAGE_PYTHON at one." >&2
    exit 1
fi

UV=.tools/bin/uv
if [ ! -x "$UV" ] || [ "$("$UV" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    echo "==> installing uv $UV_VERSION into .tools/"
    "$PYTHON" -m venv .tools
    .tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

echo "==> pipeline environment (.venv) from uv.lock"
"$UV" sync --frozen --python "$PYTHON" --quiet

echo "==> Superset environment (.venv-superset) from superset/requirements.txt"
if [ ! -x .venv-superset/bin/python ]; then
    "$UV" venv --quiet --python "$PYTHON" .venv-superset
fi
"$UV" pip sync --quiet --python .venv-superset/bin/python superset/requirements.txt

pipeline_duckdb=$(.venv/bin/python -c 'import duckdb; print(duckdb.__version__)')
superset_duckdb=$(.venv-superset/bin/python -c 'import duckdb; print(duckdb.__version__)')
if [ "$pipeline_duckdb" != "$superset_duckdb" ]; then
    echo "DuckDB differs between the pipeline ($pipeline_duckdb) and Superset ($superset_duckdb):" >&2
    echo "pin the same version in pyproject.toml and superset/requirements.in." >&2
    exit 1
fi
echo "==> environments ready (DuckDB $pipeline_duckdb in both)"

# The browser tests (tests/e2e/test_browser.py) and scripts/benchmark_dashboards.py drive the
# system's Chromium through Playwright: Debian's package, never a browser Playwright downloads.
# Its colour emoji font draws the podium medals and badges the way an office TV's browser does.
# The production profile's reverse proxy (docker/proxy/, docker-compose.yml) is Debian's nginx,
# rendered with envsubst and openssl: tests/e2e/test_proxy.py runs it here as a local process.
CHROMIUM="${PILOTAGE_CHROMIUM:-/usr/bin/chromium}"
EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
packages=()
[ -x "$CHROMIUM" ] || packages+=(chromium)
[ -f "$EMOJI_FONT" ] || ! command -v apt-get >/dev/null 2>&1 || packages+=(fonts-noto-color-emoji)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || packages+=(nginx)
command -v envsubst >/dev/null 2>&1 || packages+=(gettext-base)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
# The dbt project on Apache Spark (tests/e2e/test_dbt_spark.py, docs/adapters.md): PySpark 4 runs
# on a Java 17 or 21 runtime, Debian's default-jre-headless (OpenJDK 17 on Debian 12).
command -v java >/dev/null 2>&1 || packages+=(default-jre-headless)
if [ "${#packages[@]}" -gt 0 ]; then
    apt_install=(apt-get install -y --no-install-recommends "${packages[@]}")
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "Missing ${packages[*]} and no apt-get here: install them (Chromium: point" >&2
        echo "PILOTAGE_CHROMIUM at its executable; the browser tests need it, the proxy test" >&2
        echo "needs nginx, envsubst and openssl, the Spark test a Java 17+ runtime)." >&2
        exit 1
    elif [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "Missing ${packages[*]}, and installing them needs root. Run:" >&2
        echo "    sudo apt-get update && sudo ${apt_install[*]}" >&2
        echo "then re-run make install (or point PILOTAGE_CHROMIUM at a Chromium executable)." >&2
        exit 1
    fi
    echo "==> installing Debian's ${packages[*]} for the browser, proxy and Spark tests: ${sudo[*]:+${sudo[*]} }${apt_install[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt_install[@]}" -qq
    if [ ! -x "$CHROMIUM" ]; then
        echo "Debian's chromium is installed, but $CHROMIUM is still missing:" >&2
        echo "point PILOTAGE_CHROMIUM at /usr/bin/chromium (or unset it)." >&2
        exit 1
    fi
fi
echo "==> browser for the browser tests: $CHROMIUM"
echo "==> reverse proxy for the proxy test: $(command -v nginx || echo /usr/sbin/nginx)"
echo "==> Java for the Spark test: $(command -v java)"
