# The Waypoint server, built from this repository (no Docker Hub image of ours is published):
#   docker build -t waypoint-server .
#   docker run --rm -p 8123:8123 -v "$PWD/examples:/deps:ro" -v waypoint-data:/data waypoint-server
# Mount the directory holding your langgraph.json (and its graph files) at /deps; the SQLite
# database lives in the /data volume unless DATABASE_URI names PostgreSQL. Graphs that need
# more packages: build `FROM waypoint-server` and `pip install` them.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/waypoint
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY src ./src
RUN pip install -c constraints.txt . \
    && useradd --system --create-home --uid 10001 waypoint \
    && mkdir -p /deps /data \
    && chown waypoint:waypoint /data

USER waypoint
WORKDIR /deps
ENV WAYPOINT_CONFIG=/deps/langgraph.json \
    DATABASE_URI=sqlite:////data/waypoint.sqlite
VOLUME ["/data"]
EXPOSE 8123
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8123/ok', timeout=4)"]
CMD ["waypoint", "serve", "--host", "0.0.0.0", "--port", "8123"]
