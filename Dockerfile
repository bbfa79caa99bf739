# syntax=docker/dockerfile:1
# lifeboat: one image for the scheduler daemon (`lifeboat run`) and for one-shot jobs (a cron
# container or a Kubernetes CronJob: `lifeboat backup …`).
#
#   docker build -t lifeboat .
#   docker run --rm lifeboat --help
#
# Runtime contents: lifeboat; pg_dump/pg_dumpall/psql of every supported server major
# (14–18: pg_dump must be at least the server's version, and lifeboat picks the closest one);
# the PostgreSQL 18 server programs (initdb, pg_ctl, postgres) so `verify` and `drill` can
# start a throwaway server with no other infrastructure (18 restores backups of 14–18); and
# age, zstd and minisign for break-glass restores by hand (docs/repository-format.md).

ARG RUST_VERSION=1
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
# Dependencies first, so source changes rebuild only lifeboat.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip --strip-debug target/release/lifeboat \
    && ./target/release/lifeboat --version

FROM debian:${DEBIAN}-slim AS runtime
ARG DEBIAN
# PostgreSQL's own packages (PGDG): every client major, and one server for throwaway restores.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl gnupg; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
      https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${DEBIAN}-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
      postgresql-client-14 postgresql-client-15 postgresql-client-16 \
      postgresql-client-17 postgresql-client-18 postgresql-18 \
      age zstd minisign tini curl; \
    apt-get purge -y --auto-remove gnupg; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --system --uid 10001 --create-home --home-dir /var/lib/lifeboat lifeboat
COPY --from=build /src/target/release/lifeboat /usr/local/bin/lifeboat
COPY docker/entrypoint.sh /usr/local/bin/lifeboat-entrypoint
USER 10001:10001
WORKDIR /var/lib/lifeboat
ENV LIFEBOAT_LOG_FORMAT=json
# The daemon's HTTP endpoint (loopback by default: set [scheduler] listen = "0.0.0.0:9187"
# to scrape it from outside the container).
EXPOSE 9187
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["lifeboat-entrypoint", "healthcheck"]
ENTRYPOINT ["tini", "--", "lifeboat-entrypoint"]
CMD ["run"]
