import assert from "node:assert/strict";
import { join } from "node:path";
import * as v from "valibot";
import { parse as parseCsv } from "csv-parse/sync";
import { tableFromIPC } from "apache-arrow";
import { batchFromRows, formatDate, formatDecimal, formatTimestamp } from "../../batch.ts";
import { ConfigError } from "../../errors.ts";
import { COMPLIANCE_SCHEMA, sinkCompliance, type TextRow } from "../compliance.ts";
import { sinkTestContext } from "../testing.ts";
import { fileSink, FileSinkConfig, renderPath, runDate } from "./mod.ts";

const parse = (input: unknown) => v.parse(FileSinkConfig, input);
const signal = new AbortController().signal;

async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) out.push(...await filesIn(path));
    else out.push(path);
  }
  return out.sort();
}

const text = (value: unknown) => (value === null || value === undefined ? null : String(value));

function readNdjson(bytes: Uint8Array): TextRow[] {
  return new TextDecoder().decode(bytes).trim().split("\n").map((line) => {
    const row = JSON.parse(line) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, text(v)]));
  });
}

function readCsv(bytes: Uint8Array): TextRow[] {
  // An unquoted empty field is null, a quoted one an empty string: the encoder's convention.
  return parseCsv(new TextDecoder().decode(bytes), {
    columns: true,
    cast: (value: string, context: { quoting: boolean }) => (context.quoting || value !== "" ? value : null),
  }) as TextRow[];
}

function readArrow(bytes: Uint8Array): TextRow[] {
  const table = tableFromIPC(bytes);
  const rows: TextRow[] = Array.from({ length: table.numRows }, () => ({}));
  for (const field of COMPLIANCE_SCHEMA.fields) {
    const vector = table.getChild(field.name);
    assert.ok(vector, `missing column ${field.name}`);
    const data = vector.data[0];
    for (let i = 0; i < table.numRows; i++) {
      let value: string | null = null;
      if (vector.isValid(i)) {
        switch (field.type) {
          case "decimal":
            value = formatDecimal(
              new BigInt64Array(data.values.buffer, data.values.byteOffset, data.values.length / 2)[2 * i],
              field.scale,
            );
            break;
          case "date":
            value = formatDate((data.values as Int32Array)[i]);
            break;
          case "timestamp":
            value = formatTimestamp((data.values as BigInt64Array)[i]);
            break;
          default:
            value = String(vector.get(i));
        }
      }
      rows[i][field.name] = value;
    }
  }
  return rows;
}

const READERS = { ndjson: readNdjson, csv: readCsv, arrow: readArrow } as const;

Deno.test("file sink config parses a minimal config", () => {
  assert.equal(parse({}).format, "ndjson");
});

Deno.test("file sink config rejects an unknown key", () => {
  assert.throws(() => parse({ format: "csv", delimiter: ";" }), v.ValiError);
});

Deno.test("file sink config applies defaults", () => {
  assert.deepEqual(parse({}), {
    path: "./data/out/{pipeline}/{date}/{run}-{sequence}.{ext}",
    format: "ndjson",
    header: true,
    escapeFormulas: true,
  });
});

for (const format of ["ndjson", "csv", "arrow"] as const) {
  Deno.test(`file sink passes compliance as ${format}`, async (t) => {
    const dir = await Deno.makeTempDir();
    try {
      await sinkCompliance(t, {
        name: "file",
        makeSink: (telemetry) =>
          fileSink.build(
            parse({ path: `${dir}/{pipeline}/{date}/{run}-{sequence}.{ext}`, format }),
            sinkTestContext(COMPLIANCE_SCHEMA, { telemetry }),
          ),
        async readBack() {
          const files = await filesIn(dir);
          assert.equal(files.length, 2, `expected one file per batch: ${files.join(", ")}`);
          assert.ok(files.every((f) => f.endsWith(`.${format}`)));
          const rows: TextRow[] = [];
          for (const f of files) rows.push(...READERS[format](await Deno.readFile(f)));
          return rows;
        },
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("file sink escapes spreadsheet formulas in CSV unless told not to", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const fields = [{ name: "s", type: "string" }] as const;
    const batch = batchFromRows(fields, [["=1+1"], ["+cmd"], ["-2"], ["@SUM(A1)"], ["\tx"], ["\rx"], [
      "safe",
    ]]);
    for (const escapeFormulas of [true, false]) {
      const sink = await fileSink.build(
        parse({ path: `${dir}/${escapeFormulas}-{run}-{sequence}.{ext}`, format: "csv", escapeFormulas }),
        sinkTestContext({ key: [], fields }),
      );
      await sink.write(batch, { runId: "r", sequence: 0, signal });
      await sink.close();
    }
    assert.equal(
      await Deno.readTextFile(`${dir}/true-r-000000.csv`),
      `s\n"'=1+1"\n"'+cmd"\n"'-2"\n"'@SUM(A1)"\n"'\tx"\n"'\rx"\nsafe\n`,
    );
    assert.equal(
      await Deno.readTextFile(`${dir}/false-r-000000.csv`),
      `s\n=1+1\n+cmd\n-2\n@SUM(A1)\n\tx\n"\rx"\nsafe\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file sink rejects a path template without run and sequence", async () => {
  await assert.rejects(
    fileSink.build(parse({ path: "/tmp/{pipeline}.ndjson" }), sinkTestContext(COMPLIANCE_SCHEMA)),
    (error: unknown) => error instanceof ConfigError && error.path === "sinks.file.path",
  );
});

Deno.test("file sink renders the run's own day, so a retry on a later day hits the same file", () => {
  const runId = "r_01KB5Z3Y9W0000000000000000"; // a ULID minted on 2025-11-28
  assert.equal(runDate(runId), "2025-11-28");
  assert.equal(
    renderPath("out/{pipeline}/{date}/{run}-{sequence}.{ext}", {
      pipeline: "../etc",
      runId,
      sequence: 7,
      ext: "csv",
      now: new Date("2030-01-01T00:00:00Z"),
    }),
    `out/__etc/2025-11-28/${runId}-000007.csv`,
  );
  assert.equal(runDate("not-a-ulid"), undefined);
});

Deno.test("file sink leaves no temp file behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const sink = await fileSink.build(
      parse({ path: `${dir}/{run}-{sequence}.{ext}` }),
      sinkTestContext(COMPLIANCE_SCHEMA),
    );
    await sink.write(batchFromRows(COMPLIANCE_SCHEMA.fields, [[1n]]), { runId: "r", sequence: 0, signal });
    assert.deepEqual((await filesIn(dir)).map((f) => f.slice(dir.length + 1)), ["r-000000.ndjson"]);
    await sink.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
