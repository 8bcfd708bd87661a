# syntax=docker/dockerfile:1
# The one MPCS image: every component is a sub-command of `mpcs` (operator run, sim run, ingest run,
# api serve, lambdas run-alerts, …), so one supply chain and one version (docs/image.md).
#
# BASE_IMAGE is the runtime base. Its default is the public Python image pinned by digest, which CI
# (.github/workflows/image.yml) builds on. scripts/build-image passes a Debian bookworm base made
# with mmdebstrap instead (same Debian release, same Python minor: 3.11), on machines with no
# registry of images.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b
# BUILDER_IMAGE builds the wheelhouse: Rust for the native ingest extension, Debian bookworm for a
# Python 3.11 (apt) that tags the wheels for the runtime's interpreter.
ARG BUILDER_IMAGE=docker.io/library/rust:1.87-slim-bookworm
# WHEELHOUSE: empty (CI) builds the wheelhouse in the builder stage from uv.lock; a path inside the
# build context (scripts/build-image) takes the wheels scripts/build-wheelhouse made on the host, so
# the build itself reaches no registry.
ARG WHEELHOUSE=""
# CONSOLE: the built web console (`npm ci && npm run build` in console/: index.html, hashed assets,
# swagger/ for an offline /docs), a path inside the build context. No stage here runs Node: the
# host (scripts/build-image, after the bootstrap built it) or CI (actions/setup-node, image.yml)
# builds it first, so the image carries no Node and the build needs no Node base image. Missing,
# the build fails rather than ship an image without its console.
ARG CONSOLE=console/dist

FROM ${BUILDER_IMAGE} AS builder
ARG WHEELHOUSE
ARG CONSOLE
WORKDIR /src
COPY . .
# Build tools live and die in this stage. Debian's point releases replace package versions, so the
# builder's apt packages are not pinned (DL3008); nothing installed here reaches the final image.
# hadolint ignore=DL3008
RUN if [ -n "${WHEELHOUSE}" ]; then \
        cp -r "${WHEELHOUSE}" /wheelhouse; \
    else \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/* \
        && scripts/build-wheelhouse /wheelhouse; \
    fi \
    && test -s /wheelhouse/requirements.txt \
    && if [ ! -s "${CONSOLE}/index.html" ]; then \
        echo "CONSOLE=${CONSOLE}: no index.html (run npm ci && npm run build in console/)" >&2; \
        exit 1; \
    fi \
    && cp -r "${CONSOLE}" /console \
    && chmod -R u=rwX,go=rX /console

FROM ${BASE_IMAGE} AS install
COPY --from=builder /wheelhouse /wheelhouse
# Offline and hash-checked: the dependencies are the wheels uv.lock names, nothing else is fetched.
# pip itself is removed from the venv afterwards: the image installs nothing at run time.
RUN python3 -m venv /opt/mpcs \
    && /opt/mpcs/bin/pip install --no-cache-dir --no-index --no-deps --require-hashes \
        --find-links /wheelhouse --requirement /wheelhouse/requirements.txt \
    && /opt/mpcs/bin/pip install --no-cache-dir --no-index --no-deps \
        /wheelhouse/mpcs_lineproto-*.whl /wheelhouse/mpcs-*.whl \
    && /opt/mpcs/bin/pip uninstall --yes --quiet pip setuptools \
    && /opt/mpcs/bin/mpcs --help > /dev/null
# The console lands inside /opt/mpcs (after the venv, so a console change reuses the install layer),
# owned by root and world-readable, never writable by the non-root user; MPCS_CONSOLE_DIR (runtime
# stage) points the command API at it.
COPY --from=builder /console /opt/mpcs/console

FROM ${BASE_IMAGE} AS runtime
ARG BASE_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="mpcs" \
      org.opencontainers.image.description="Mission Planning & Control System: operator, simulator, ingest, command API and alerts runner in one image" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/mpcs-io/mpcs" \
      org.opencontainers.image.documentation="https://github.com/mpcs-io/mpcs/blob/main/docs/image.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin mpcs
COPY --from=install /opt/mpcs /opt/mpcs
# Read-only root: bytecode was compiled at install time and nothing writes it now; HOME is /tmp,
# the one writable path a Pod needs (an emptyDir in the chart). `mpcs api serve` serves the console
# at / and Swagger UI's own files behind /docs from MPCS_CONSOLE_DIR.
ENV PATH=/opt/mpcs/bin:$PATH \
    MPCS_CONSOLE_DIR=/opt/mpcs/console \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
ENTRYPOINT ["mpcs"]
CMD ["--help"]
