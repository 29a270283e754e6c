# minyi: one image for every role of the distributed mode (migrate, ingest,
# api, produce) and for `minyi serve`. Multi-stage: the web assets' npm
# packages, the release build (which embeds the web assets and the built-in
# dashboards: build.rs), then a slim runtime with the binary alone.
FROM node:20-bookworm-slim AS web
WORKDIR /src/dashboards/web
COPY dashboards/web/package.json dashboards/web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY dashboards dashboards
COPY --from=web /src/dashboards/web/node_modules dashboards/web/node_modules
COPY src src
COPY benches benches
COPY examples examples
COPY pipelines pipelines
RUN cargo build --release --locked --bin minyi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /srv/minyi minyi
WORKDIR /srv/minyi
COPY --from=build /src/target/release/minyi /usr/local/bin/minyi
COPY deploy/minyi.toml /etc/minyi/minyi.toml
USER minyi
ENTRYPOINT ["minyi"]
CMD ["serve", "--listen", "0.0.0.0:8080", "--config", "/etc/minyi/minyi.toml"]
