# Rendered by paper2run-tui 0.1.0 for demo.
# Layers, cheapest to change last: base + system packages, dependency manifests, install steps,
# the rest of the source, then env and the smoke command. A repair that changes only later
# steps reuses the earlier layers from the build cache.
FROM python:3.11-slim

# The host's CA bundle (TLS-intercepting proxies), installed before the first network step.
COPY .paper2run/ca.crt /usr/local/share/ca-certificates/paper2run-ca.crt
RUN cat /usr/local/share/ca-certificates/paper2run-ca.crt >> /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
ENV PIP_CERT=/usr/local/share/ca-certificates/paper2run-ca.crt \
    SSL_CERT_FILE=/usr/local/share/ca-certificates/paper2run-ca.crt \
    REQUESTS_CA_BUNDLE=/usr/local/share/ca-certificates/paper2run-ca.crt \
    CURL_CA_BUNDLE=/usr/local/share/ca-certificates/paper2run-ca.crt \
    GIT_SSL_CAINFO=/usr/local/share/ca-certificates/paper2run-ca.crt \
    NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/paper2run-ca.crt
ARG HTTPS_PROXY
ARG HTTP_PROXY
ARG NO_PROXY
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    LANG=C.UTF-8 \
    LC_ALL=C.UTF-8

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 git \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /repo

# Dependency manifests alone, so that a source change does not reinstall dependencies.
COPY ["requirements.txt", "/repo/requirements.txt"]
COPY ["requirements/extra.txt", "/repo/requirements/extra.txt"]

RUN pip install -r requirements.txt

COPY . /repo
RUN pip install -e . --no-deps

ENV GREETING="hello world" \
    MPLBACKEND="Agg"

LABEL org.paper2run.managed="true"
CMD ["/bin/sh", "-c", "python -c \"import demo\""]
