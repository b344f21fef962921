# Multi-stage image. The install step is `make install-runtime`, as `make run`: pip and the build
# backend from requirements-build.lock, every dependency from the runtime lock file
# (requirements.lock; both pinned with hashes, `make lock` updates them), then the project
# without dependencies. No Docker engine runs on our machines, so keep this in step with .ci/run.
FROM python:3.11.7-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md Makefile requirements-build.lock requirements.lock ./
COPY cds_service ./cds_service
RUN make install-runtime VENV=/opt/venv PIP_SPEC=.

FROM python:3.11.7-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin cds \
    && mkdir -p /srv/var && chown cds /srv/var && chmod 700 /srv/var
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    CDS_DATABASE_URL=sqlite:////srv/var/cds-service.db
WORKDIR /srv
USER cds
EXPOSE 8080
# TLS (CDS Hooks requires it), one of two ways; without either, a production start on 0.0.0.0
# is refused with a message saying so:
# - the container speaks HTTPS itself: mount a certificate and its key and set
#     -e CDS_TLS_CERT_FILE=/run/secrets/tls.crt -e CDS_TLS_KEY_FILE=/run/secrets/tls.key
# - a TLS-terminating proxy in front (an Ingress, a load balancer; deploy/kubernetes does this):
#     -e CDS_BEHIND_TLS_PROXY=true
# The health check follows the server it checks: the port and address from its command line,
# HTTPS when a certificate is set (cds_service/probe.py).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "cds_service.probe"]
CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
