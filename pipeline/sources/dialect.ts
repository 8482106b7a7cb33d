/**
 * The CSV dialect options shared by every source that reads CSV (HTTP bodies, files). Described once so the
 * HTTP and file sources cannot drift apart.
 *
 * @module
 */
import * as v from "valibot";

const oneCharacter = (what: string) =>
  v.pipe(
    v.string(`expected a single character for the ${what}`),
    v.length(1, `expected a single character for the ${what}`),
    v.check((c) => c !== "\n" && c !== "\r", `expected a ${what} other than a line break`),
  );

/** How CSV input is written. */
export const CsvDialectSchema = v.pipe(
  v.strictObject({
    delimiter: v.pipe(
      v.optional(oneCharacter("delimiter"), ","),
      v.description("Field separator, one character (`,`, `;`, `|`, a tab)"),
    ),
    quote: v.pipe(
      v.optional(oneCharacter("quote"), '"'),
      v.description("Quote character; a doubled quote inside a quoted field is one quote"),
    ),
    header: v.pipe(
      v.optional(v.boolean(), true),
      v.description(
        "Whether the first record names the columns; with a header, columns are matched by name, without one by position",
      ),
    ),
    nullTokens: v.pipe(
      v.optional(v.array(v.string()), [""]),
      v.description("Unquoted field values read as null"),
    ),
  }),
  v.check((d) => d.delimiter !== d.quote, "expected a delimiter different from the quote"),
  v.description("CSV dialect"),
);

/** A validated CSV dialect. */
export type CsvDialect = v.InferOutput<typeof CsvDialectSchema>;

/** The formats a source can read. */
export const FORMATS = ["csv", "ndjson", "json"] as const;

/** One input format: CSV, newline-delimited JSON objects, or one JSON array of objects. */
export type Format = typeof FORMATS[number];
