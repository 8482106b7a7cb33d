/**
 * The `file` sink: one file per batch, as NDJSON, CSV (formula-injection-safe by default) or Arrow IPC.
 *
 * **Exactly once.** The path of a batch is a function of the pipeline, the run id and the sequence (and the
 * run's day, taken from the time in its ULID), so a retry targets the same file. A file is written to a temp
 * name beside its target, fsync'd, renamed over the target and the directory fsync'd: a file at the target
 * path is always complete, so a write that finds it there skips, and a crash leaves at most a stray temp file.
 *
 * @module
 */

import { dirname, join } from "node:path";
import {
  Bool,
  type Data,
  DateDay,
  Decimal,
  Field as ArrowField,
  Float64,
  Int64,
  makeData,
  RecordBatch,
  Schema as ArrowSchema,
  Struct,
  Table,
  tableToIPC,
  TimestampMicrosecond,
  Utf8,
} from "apache-arrow";
import type { Batch, Column } from "../../batch.ts";
import type { Sink } from "../../component.ts";
import { ConfigError, PipelineError } from "../../errors.ts";
import { encodeCsv } from "../csv_encoder.ts";
import { configPath, sinkError } from "../context.ts";
import type { SinkDefinition } from "../context.ts";
import { sinkInstruments } from "../instruments.ts";
import { jsonRow } from "../json_row.ts";
import { FileSinkConfig } from "./config.ts";

export { FileSinkConfig } from "./config.ts";

const NAME = "file";
const COMPONENT = "sink.file";
const EXTENSIONS = { ndjson: "ndjson", csv: "csv", arrow: "arrow" } as const;
const ULID_TIME = /^(?:[a-z]+_)?([0-9A-HJKMNP-TV-Z]{10})[0-9A-HJKMNP-TV-Z]{16}$/;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** The UTC day a run started, from the time in its ULID id; `undefined` for ids that are not ULIDs. */
export function runDate(runId: string): string | undefined {
  const m = ULID_TIME.exec(runId);
  if (!m) return undefined;
  let ms = 0;
  for (const ch of m[1]) ms = ms * 32 + CROCKFORD.indexOf(ch);
  return new Date(ms).toISOString().slice(0, 10);
}

/** Keeps a substituted value to one safe path segment. */
const segment = (value: string) => value.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");

/** The path of batch `sequence` of run `runId`. */
export function renderPath(
  template: string,
  values: { pipeline: string; runId: string; sequence: number; ext: string; now?: Date },
): string {
  const date = runDate(values.runId) ?? (values.now ?? new Date()).toISOString().slice(0, 10);
  return template.replace(/\{(pipeline|run|sequence|date|ext)\}/g, (_, name: string) => {
    switch (name) {
      case "pipeline":
        return segment(values.pipeline);
      case "run":
        return segment(values.runId);
      case "sequence":
        return String(values.sequence).padStart(6, "0");
      case "date":
        return date;
      default:
        return values.ext;
    }
  });
}

/** The batch as Arrow IPC (file format), sharing the batch's buffers where Arrow's layout is the same. */
export function arrowBytes(batch: Batch): Uint8Array {
  const fields: ArrowField[] = [];
  const children: Data[] = [];
  for (const f of batch.schema.fields) {
    const column = batch.columns[f.name];
    const { type, data } = arrowColumn(column);
    fields.push(new ArrowField(f.name, type, true));
    children.push(data);
  }
  const schema = new ArrowSchema(fields);
  const struct = makeData({ type: new Struct(fields), length: batch.length, nullCount: 0, children });
  return tableToIPC(new Table([new RecordBatch(schema, struct)]), "file");
}

function arrowColumn(column: Column) {
  const base = { length: column.length, nullCount: column.nullCount, nullBitmap: column.validity };
  switch (column.type) {
    case "int64": {
      const type = new Int64();
      return { type, data: makeData({ ...base, type, data: column.values }) };
    }
    case "float64": {
      const type = new Float64();
      return { type, data: makeData({ ...base, type, data: column.values }) };
    }
    case "decimal": {
      // Arrow JS writes 128-bit decimals: widen each int64 with its sign.
      const wide = new BigInt64Array(column.length * 2);
      for (let i = 0; i < column.length; i++) {
        wide[2 * i] = column.values[i];
        wide[2 * i + 1] = column.values[i] < 0n ? -1n : 0n;
      }
      const type = new Decimal(column.scale, column.precision, 128);
      return { type, data: makeData({ ...base, type, data: new Uint32Array(wide.buffer) }) };
    }
    case "boolean": {
      const type = new Bool();
      return { type, data: makeData({ ...base, type, data: column.values }) };
    }
    case "date": {
      const type = new DateDay();
      return { type, data: makeData({ ...base, type, data: column.values }) };
    }
    case "timestamp": {
      const type = new TimestampMicrosecond("UTC");
      return { type, data: makeData({ ...base, type, data: column.values }) };
    }
    case "string": {
      const type = new Utf8();
      return { type, data: makeData({ ...base, type, data: column.data, valueOffsets: column.offsets }) };
    }
  }
}

const encoder = new TextEncoder();

function* encodeNdjson(batch: Batch): Generator<Uint8Array> {
  const lines: string[] = [];
  for (let row = 0; row < batch.length; row++) {
    lines.push(JSON.stringify(jsonRow(batch, row)));
    if (lines.length === 4096) {
      yield encoder.encode(lines.join("\n") + "\n");
      lines.length = 0;
    }
  }
  if (lines.length > 0) yield encoder.encode(lines.join("\n") + "\n");
}

/** Writes `chunks` to `path` atomically: temp file, fsync, rename, directory fsync. Returns the bytes written. */
export async function writeAtomic(path: string, chunks: Iterable<Uint8Array>): Promise<number> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true });
  const temp = join(dir, `.${crypto.randomUUID()}.tmp`);
  let bytes = 0;
  try {
    using file = await Deno.open(temp, { write: true, createNew: true });
    for (const chunk of chunks) {
      let at = 0;
      while (at < chunk.length) at += await file.write(chunk.subarray(at));
      bytes += chunk.length;
    }
    await file.sync();
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  await Deno.rename(temp, path);
  // The rename is durable only once the directory entry is: fsync the directory too.
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch (error) {
    // Some platforms (Windows) cannot open a directory for fsync; the rename itself still happened.
    if (!(error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.IsADirectory)) {
      throw error;
    }
  }
  return bytes;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function isRetriable(error: unknown): boolean {
  const e = error instanceof PipelineError && error.cause !== undefined ? error.cause : error;
  // A full disk or an interrupted call may clear up; a missing permission or a bad path will not.
  return e instanceof Deno.errors.Interrupted || e instanceof Deno.errors.TimedOut ||
    e instanceof Deno.errors.Busy || /ENOSPC|No space left|EAGAIN|EIO/.test(String((e as Error)?.message));
}

/** The `file` sink. */
export const fileSink: SinkDefinition<FileSinkConfig> = {
  kind: "sink",
  name: NAME,
  summary: "Writes one NDJSON, CSV or Arrow IPC file per batch, atomically (temp file, fsync, rename)",
  config: FileSinkConfig,
  isRetriable,
  keepsNoBatch: true,
  build(config, ctx) {
    if (!config.path.includes("{run}") || !config.path.includes("{sequence}")) {
      return Promise.reject(
        new ConfigError(`File sink path must contain {run} and {sequence}: got ${config.path}`, {
          path: configPath(NAME, "path"),
        }),
      );
    }
    const meters = sinkInstruments(ctx.telemetry, NAME);
    const ext = EXTENSIONS[config.format];
    const encode = (batch: Batch): Iterable<Uint8Array> => {
      switch (config.format) {
        case "ndjson":
          return encodeNdjson(batch);
        case "csv":
          return encodeCsv(batch, { header: config.header, escapeFormulas: config.escapeFormulas });
        case "arrow":
          return [arrowBytes(batch)];
      }
    };
    let closed = false;
    const sink: Sink = {
      async write(batch, w) {
        if (closed) throw new PipelineError("Sink is closed", { component: COMPONENT, retriable: false });
        w.signal.throwIfAborted();
        meters.received(batch.length);
        const path = renderPath(config.path, {
          pipeline: ctx.pipeline,
          runId: w.runId,
          sequence: w.sequence,
          ext,
        });
        try {
          if (await exists(path)) return; // complete by construction: only a rename puts a file there
          meters.bytes(await writeAtomic(path, encode(batch)));
          meters.sent(batch.length);
        } catch (error) {
          meters.error();
          throw sinkError(error, {
            component: COMPONENT,
            message: `Writing ${path} failed`,
            retriable: isRetriable(error),
          });
        }
      },
      healthcheck(signal) {
        signal.throwIfAborted();
        return Promise.resolve();
      },
      close() {
        closed = true;
        return Promise.resolve();
      },
    };
    return Promise.resolve(sink);
  },
};
