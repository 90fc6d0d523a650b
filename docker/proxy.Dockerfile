# The authenticating reverse proxy of the production profile (docker-compose.yml's proxy service):
# Debian's nginx, the same package scripts/install.sh installs for the tests, started by
# docker/proxy/entrypoint.sh, which renders docker/proxy/nginx.conf.template from the environment.
FROM debian:bookworm-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx gettext-base openssl ca-certificates \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default

COPY docker/proxy/ /opt/pilotage-proxy/

EXPOSE 80 443
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "/opt/pilotage-proxy/entrypoint.sh"]
