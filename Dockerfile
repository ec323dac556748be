# numproxy: one image for every service. The command picks the service:
#   docker run numproxy:dev gateway | router | sender | simulator | router migrate
#
# BASE_IMAGE defaults to the official python:3.11-slim. On machines without a registry,
# `make image` passes a locally debootstrapped Debian 12 (local/python-base:bookworm) and fills
# scripts/docker/wheelhouse/ on the host first, so the build needs no network at all.
ARG BASE_IMAGE=python:3.11-slim

# ---- build: a virtualenv with numproxy and its dependencies -------------------------------
FROM ${BASE_IMAGE} AS build
LABEL io.numproxy.image="build"
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/numproxy
# Dependencies first (a layer that only changes with them): exactly what
# deploy/requirements.lock pins, every file checked against the lock's hashes
# (--require-hashes), from the wheelhouse when one was prepared (scripts/docker/wheelhouse.sh),
# otherwise from PyPI. The wildcard makes the wheelhouse optional: a plain checkout builds as it
# is.
COPY deploy/requirements.lock scripts/docker/wheelhouse* /wheels/
RUN set -e; \
    if [ -f /wheels/requirements.txt ]; then set -- --no-index --find-links /wheels; fi; \
    /opt/numproxy/bin/pip install "$@" --require-hashes --no-deps -r /wheels/requirements.lock
COPY pyproject.toml README.md LICENSE /src/
COPY services/ /src/services/
# The checkout's top-level `numproxy -> services` symlink, which setuptools' package discovery
# walks (package-dir maps the `numproxy` package onto services/).
RUN ln -s services /src/numproxy
# numproxy itself (built here, so it has no hash to check) with nothing else: `pip check`
# fails the build when the lock lacks one of its dependencies.
RUN set -e; \
    if [ -f /wheels/requirements.txt ]; then set -- --no-index --find-links /wheels; fi; \
    /opt/numproxy/bin/pip install "$@" --no-deps /src; \
    /opt/numproxy/bin/pip check; \
    /opt/numproxy/bin/pip uninstall -q -y pip setuptools wheel 2>/dev/null || true; \
    /opt/numproxy/bin/python -m compileall -q /opt/numproxy/lib >/dev/null; \
    find /opt/numproxy -name '*.dist-info' -prune -o -name 'tests' -type d -path '*/site-packages/*/tests' -prune -exec rm -rf {} +; \
    /opt/numproxy/bin/python -c "import numproxy"

# ---- runtime: the base image, the virtualenv and an unprivileged user ---------------------
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="numproxy" \
      org.opencontainers.image.description="SMS number masking over Vonage: gateway, router, sender, simulator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/numproxy/numproxy" \
      io.numproxy.image="runtime"
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without /etc/passwd lookups.
RUN echo "numproxy:x:10001:10001:numproxy:/var/lib/numproxy:/usr/sbin/nologin" >>/etc/passwd \
    && echo "numproxy:x:10001:" >>/etc/group \
    && mkdir -p /var/lib/numproxy \
    && chown 10001:10001 /var/lib/numproxy
COPY --from=build /opt/numproxy /opt/numproxy
ENV PATH=/opt/numproxy/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LANG=C.UTF-8
# The working directory is where the default SQLite file (numproxy.db) goes; mount a volume
# there for a durable single-node router, or point NUMPROXY_ROUTER_DATABASE_URL at PostgreSQL.
WORKDIR /var/lib/numproxy
USER 10001:10001
EXPOSE 8080 8090 50051 50052
ENTRYPOINT ["numproxy"]
CMD ["--help"]
