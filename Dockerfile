# Multi-stage image. The install step is the same `make install` CI runs, with the runtime-only
# package spec; no Docker engine runs on our machines, so keep this in step with .ci/run.
FROM python:3.11.7-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md Makefile ./
COPY cds_service ./cds_service
RUN make install VENV=/opt/venv PIP_SPEC=.

FROM python:3.11.7-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin cds \
    && mkdir -p /srv/var && chown cds /srv/var
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    CDS_DATABASE_URL=sqlite:////srv/var/cds-service.db
WORKDIR /srv
USER cds
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]
CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
