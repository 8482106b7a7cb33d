# weir: official Deno image, dependencies and WASM kernels built at image build, run as the non-root `deno` user
# with only the permissions the server needs.
FROM denoland/deno:2.9.6 AS build
WORKDIR /app
# Dependencies first, so a code change does not refetch them.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
RUN deno task build:kernels \
 && deno cache --frozen main.ts workers/kernel_worker.ts

FROM denoland/deno:2.9.6
WORKDIR /app
ENV WEIR_HOST=0.0.0.0 \
    PORT=8080 \
    WEIR_DATA_DIR=/app/data \
    DENO_NO_UPDATE_CHECK=1
COPY --from=build --chown=deno:deno /deno-dir /deno-dir
COPY --from=build --chown=deno:deno /app /app
RUN mkdir -p /app/data && chown deno:deno /app/data
USER deno
EXPOSE 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch('http://127.0.0.1:8080/healthz'); Deno.exit(r.ok ? 0 : 1)"]
CMD ["run", "--cached-only", "--allow-net", "--allow-env", "--allow-read", "--allow-write=/app/data", \
     "--allow-sys=hostname,osRelease", "main.ts", "serve"]
