# Steward node image: one binary, no runtime dependencies beyond libc and OpenSSL (for libpq).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked && strip target/release/steward

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/steward --create-home steward
COPY --from=build /src/target/release/steward /usr/local/bin/steward
COPY settings/default.yaml /etc/steward/default.yaml
USER steward
WORKDIR /var/lib/steward
ENV STEWARD__SERVER__DATA_DIR=/var/lib/steward \
    STEWARD__WEB__BIND=0.0.0.0
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/steward"]
CMD ["start"]
