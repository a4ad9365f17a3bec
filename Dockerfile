# syntax=docker/dockerfile:1
# convcheck as a container image. Build: docker build -t convcheck .
#   docker run --rm convcheck                                   # the suite against the embedded emulator
#   docker run --rm -v "$PWD:/work" --user "$(id -u)" convcheck run --target URL --report-html report.html
#   docker run --rm -p 4010:4010 convcheck serve --host 0.0.0.0 --port 4010   # the emulator
# The working directory is /work: mount the directory that should receive reports and hold
# snapshots/ there, as your own user (--user) so the reports can be written and are yours.

FROM rust:1-bookworm AS build
WORKDIR /src
# The whole checkout (less what .dockerignore drops): Cargo.toml names the test targets, so
# their files must exist even though only the binary is built.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin convcheck \
    && cp target/release/convcheck /usr/local/bin/convcheck

FROM debian:bookworm-slim
# TLS is rustls, which trusts the system's certificate store: only the CA bundle is needed,
# no libssl.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 convcheck \
    && mkdir /work && chown convcheck /work
COPY --from=build /usr/local/bin/convcheck /usr/local/bin/convcheck
USER convcheck
WORKDIR /work
EXPOSE 4010
ENTRYPOINT ["convcheck"]
CMD ["run"]
