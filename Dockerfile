# ccmon as a container: `ccmon run` with the config at /etc/ccmon/config.yaml (mount yours;
# it must listen on 0.0.0.0 to be scraped from outside: `web: {listen: 0.0.0.0:9153}`) and
# its SQLite store in the volume /var/lib/ccmon. See docs/deploy.md.
#
#   docker build -t ccmon .
#   docker run -d -p 127.0.0.1:9153:9153 -v "$PWD/config.yaml:/etc/ccmon/config.yaml:ro" \
#     -v ccmon-data:/var/lib/ccmon ccmon [--shard K/N]

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
    CCMON_HEALTH_URL=http://127.0.0.1:9153/healthz
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
# The same pinned versions as `make deps` (constraints.txt).
RUN python -m pip install --no-cache-dir -c /tmp/constraints.txt /wheels/*.whl \
    && rm /tmp/constraints.txt \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 ccmon \
    && useradd --system --uid 10001 --gid ccmon --home-dir /var/lib/ccmon --create-home \
       --shell /usr/sbin/nologin ccmon \
    && mkdir -p /etc/ccmon
COPY config.yaml /etc/ccmon/config.example.yaml
WORKDIR /var/lib/ccmon
VOLUME ["/var/lib/ccmon"]
USER 10001:10001
EXPOSE 9153
# /healthz answers 200 while the monitor runs and its sweeps are not stale; no curl in the
# image, so Python asks. Set CCMON_HEALTH_URL when web.listen uses another port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['CCMON_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["ccmon", "run"]
CMD ["--config", "/etc/ccmon/config.yaml"]
