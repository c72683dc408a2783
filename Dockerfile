# ccmon as a container: `ccmon run`, listening on 0.0.0.0:9153, with the shipped example
# config at /etc/ccmon/config.yaml until you mount yours over it, and its SQLite store in the
# volume /var/lib/ccmon. Flags and CCMON_* variables override the config without editing it
# (--web.listen-address / CCMON_WEB_LISTEN_ADDRESS, --web.config.file, --store.path,
# --log-format json, ...; docs/deploy.md). The HEALTHCHECK is `ccmon healthcheck`, which reads
# the same config and works with TLS and basic auth on.
#
#   docker build -t ccmon .
#   docker run -d -p 127.0.0.1:9153:9153 -v "$PWD/config.yaml:/etc/ccmon/config.yaml:ro" \
#     -v ccmon-data:/var/lib/ccmon ccmon [--shard K/N] [--log-format json]

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: the ccmon wheel (pure Python; dependencies come as wheels from PyPI) ---------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY probes ./probes
COPY lab ./lab
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- run ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ccmon" \
      org.opencontainers.image.description="Monitor for the name servers of ccTLDs" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CCMON_CONFIG=/etc/ccmon/config.yaml \
    CCMON_WEB_LISTEN_ADDRESS=:9153 \
    CCMON_STORE_PATH=/var/lib/ccmon/ccmon.sqlite
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
# The same pinned versions as `make deps` (constraints.txt); the `fast` extra brings uvloop,
# the event loop `ccmon run` prefers (lower CPU per query, tighter RTT stamps).
# The wheel by its path: a bare "ccmon" would let pip pick PyPI's unrelated project of
# that name.
RUN wheel="$(echo /wheels/ccmon-*.whl)" \
    && python -m pip install --no-cache-dir -c /tmp/constraints.txt "${wheel}[fast]" \
    && rm /tmp/constraints.txt \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 ccmon \
    && useradd --system --uid 10001 --gid ccmon --home-dir /var/lib/ccmon --create-home \
       --shell /usr/sbin/nologin ccmon \
    && mkdir -p /etc/ccmon
COPY config.yaml /etc/ccmon/config.yaml
WORKDIR /var/lib/ccmon
VOLUME ["/var/lib/ccmon"]
USER 10001:10001
EXPOSE 9153
# Healthy while the server answers and a sweep finished within three intervals; reads the
# same config and environment as `ccmon run` (TLS and basic auth included).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["ccmon", "healthcheck"]
ENTRYPOINT ["ccmon", "run"]
