# Citysense application image: ingest, API, migrations and simulators (`citysense <command>`).
# Stage 1 builds the wheel; stage 2 installs only it, and runs as an unprivileged user.

FROM python:3.12-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir build==1.2.2
COPY pyproject.toml README.md ./
COPY citysense ./citysense
COPY core ./core
COPY ingest ./ingest
COPY api ./api
COPY devices ./devices
COPY dashboards ./dashboards
COPY simulators ./simulators
COPY alerts ./alerts
COPY commands ./commands
COPY lorawan ./lorawan
RUN python -m build --wheel --outdir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin citysense
COPY --from=build /wheels /wheels
# The versions tested together (constraints.txt; refresh with `make lock`).
COPY constraints.txt /wheels/constraints.txt
RUN pip install --no-cache-dir -c /wheels/constraints.txt /wheels/*.whl && rm -rf /wheels
WORKDIR /app
USER 10001
EXPOSE 8000
CMD ["citysense", "api"]
