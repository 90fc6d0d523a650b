#!/bin/sh
# Renders nginx.conf.template (beside this script) from the environment, writes the basic-auth
# file from PILOTAGE_PROXY_USER / PILOTAGE_PROXY_PASSWORD (the password hashed, SHA-512 crypt),
# checks the result with `nginx -t`, then runs nginx in the foreground (exec: signals reach it).
# The same script is the proxy image's entrypoint (docker/proxy.Dockerfile) and what the tests
# run as a local process (tests/e2e/test_proxy.py). Needs nginx, envsubst (gettext-base) and
# openssl: scripts/install.sh installs Debian's when missing.
#
# Required (no defaults): PILOTAGE_PROXY_USER, PILOTAGE_PROXY_PASSWORD (12+ characters),
# PILOTAGE_PROXY_TLS_CERT_FILE, PILOTAGE_PROXY_TLS_KEY_FILE (PEM, as this process sees them).
# Optional: PILOTAGE_PROXY_LISTEN (address, default 0.0.0.0), PILOTAGE_PROXY_HTTPS_PORT (443),
# PILOTAGE_PROXY_HTTP_PORT (80), PILOTAGE_PROXY_SUPERSET_UPSTREAM (superset:8088),
# PILOTAGE_PROXY_DAGSTER_UPSTREAM (dagster-webserver:3000), PILOTAGE_PROXY_RUN_DIR (the rendered
# configuration, the basic-auth file, pid and buffers; default /run/pilotage-proxy).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() {
    echo "pilotage proxy: $*" >&2
    exit 1
}

: "${PILOTAGE_PROXY_USER:?is not set: the Dagster login of the proxy (see .env.example)}"
: "${PILOTAGE_PROXY_PASSWORD:?is not set: the Dagster password of the proxy (see .env.example)}"
: "${PILOTAGE_PROXY_TLS_CERT_FILE:?is not set: the TLS certificate (PEM, full chain) to serve}"
: "${PILOTAGE_PROXY_TLS_KEY_FILE:?is not set: the TLS certificate key (PEM) to serve}"
export PILOTAGE_PROXY_LISTEN="${PILOTAGE_PROXY_LISTEN:-0.0.0.0}"
export PILOTAGE_PROXY_HTTPS_PORT="${PILOTAGE_PROXY_HTTPS_PORT:-443}"
export PILOTAGE_PROXY_HTTP_PORT="${PILOTAGE_PROXY_HTTP_PORT:-80}"
export PILOTAGE_PROXY_SUPERSET_UPSTREAM="${PILOTAGE_PROXY_SUPERSET_UPSTREAM:-superset:8088}"
export PILOTAGE_PROXY_DAGSTER_UPSTREAM="${PILOTAGE_PROXY_DAGSTER_UPSTREAM:-dagster-webserver:3000}"
export PILOTAGE_PROXY_RUN_DIR="${PILOTAGE_PROXY_RUN_DIR:-/run/pilotage-proxy}"

case "$PILOTAGE_PROXY_USER" in
    *:* | *" "*) fail "PILOTAGE_PROXY_USER must not contain ':' or spaces" ;;
esac
if [ "${#PILOTAGE_PROXY_PASSWORD}" -lt 12 ]; then
    fail "PILOTAGE_PROXY_PASSWORD is ${#PILOTAGE_PROXY_PASSWORD} characters long (need 12 or more);" \
        "generate one with: python3 -c \"import secrets; print(secrets.token_urlsafe(24))\""
fi
for file in "$PILOTAGE_PROXY_TLS_CERT_FILE" "$PILOTAGE_PROXY_TLS_KEY_FILE"; do
    [ -r "$file" ] || fail "cannot read $file (PILOTAGE_PROXY_TLS_CERT_FILE / _KEY_FILE)"
done
for tool in envsubst openssl; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (run scripts/install.sh)"
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || fail "nginx is missing (run scripts/install.sh)"

# A redirect keeps a non-standard https port; 443 is implied.
if [ "$PILOTAGE_PROXY_HTTPS_PORT" = 443 ]; then
    export PROXY_HTTPS_PORT_SUFFIX=""
else
    export PROXY_HTTPS_PORT_SUFFIX=":$PILOTAGE_PROXY_HTTPS_PORT"
fi

run_dir="$PILOTAGE_PROXY_RUN_DIR"
umask 077
mkdir -p "$run_dir"
# Started as root (the image), nginx's workers run as www-data: they read the basic-auth file at
# each request, so it and its folder are group-readable by www-data only. Otherwise the workers
# are this user.
if [ "$(id -u)" = 0 ]; then
    export PROXY_USER_DIRECTIVE="user www-data;"
    chgrp www-data "$run_dir"
    chmod 0750 "$run_dir"
else
    export PROXY_USER_DIRECTIVE=""
fi

hash=$(printf '%s' "$PILOTAGE_PROXY_PASSWORD" | openssl passwd -6 -stdin)
printf '%s:%s\n' "$PILOTAGE_PROXY_USER" "$hash" >"$run_dir/htpasswd.new"
if [ "$(id -u)" = 0 ]; then
    chgrp www-data "$run_dir/htpasswd.new"
    chmod 0640 "$run_dir/htpasswd.new"
fi
mv "$run_dir/htpasswd.new" "$run_dir/htpasswd"

variables='${PILOTAGE_PROXY_LISTEN} ${PILOTAGE_PROXY_HTTPS_PORT} ${PILOTAGE_PROXY_HTTP_PORT}
${PILOTAGE_PROXY_SUPERSET_UPSTREAM} ${PILOTAGE_PROXY_DAGSTER_UPSTREAM} ${PILOTAGE_PROXY_RUN_DIR}
${PILOTAGE_PROXY_TLS_CERT_FILE} ${PILOTAGE_PROXY_TLS_KEY_FILE} ${PROXY_HTTPS_PORT_SUFFIX}
${PROXY_USER_DIRECTIVE}'
envsubst "$variables" <"$here/nginx.conf.template" >"$run_dir/nginx.conf"

"$nginx" -t -q -e stderr -c "$run_dir/nginx.conf" || fail "nginx refused $run_dir/nginx.conf"
echo "pilotage proxy: https on $PILOTAGE_PROXY_LISTEN:$PILOTAGE_PROXY_HTTPS_PORT" \
    "(Superset: $PILOTAGE_PROXY_SUPERSET_UPSTREAM; /dagster/ behind basic auth:" \
    "$PILOTAGE_PROXY_DAGSTER_UPSTREAM), http on :$PILOTAGE_PROXY_HTTP_PORT redirects"
exec "$nginx" -e stderr -c "$run_dir/nginx.conf" -g "daemon off;"
