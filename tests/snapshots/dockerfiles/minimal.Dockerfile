# Rendered by paper2run-tui 0.1.0 for repo1.
# Layers, cheapest to change last: base + system packages, dependency manifests, install steps,
# the rest of the source, then env and the smoke command. A repair that changes only later
# steps reuses the earlier layers from the build cache.
FROM python:3.9-slim

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8

WORKDIR /repo


COPY . /repo


LABEL org.paper2run.managed="true"
CMD ["/bin/sh", "-c", "python -V"]
