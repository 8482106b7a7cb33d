/**
 * The load generator of `ingest-events`, run as a Web Worker so that the clients do not share the server's
 * event loop: `concurrency` loops POST single-event NDJSON bodies until `count` requests are answered, and the
 * latency of each is sent back.
 *
 * @module
 */

/** What the benchmark asks the worker to do. */
export interface EventsLoad {
  url: string;
  count: number;
  concurrency: number;
  /** The first event id; each request gets the next. */
  firstId: number;
}

/** What the worker answers. */
export interface EventsLoadResult {
  /** Milliseconds per request, in completion order. */
  latencies: Float64Array;
  /** Answers that were not 2xx, by status. */
  failures: Record<string, number>;
}

const COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "NL"];
const STATUSES = ["new", "paid", "shipped", "cancelled", "refunded"];

/** One event as an NDJSON line, shaped like an order of bench/data.ts. */
export function eventBody(id: number): string {
  return `{"id":${id},"ts":"2026-11-28T12:00:00Z","customer":"Ada Lovelace","country":"${
    COUNTRIES[id % COUNTRIES.length]
  }","amount":${(id % 10_000) / 100},"qty":${1 + (id % 7)},"status":"${
    STATUSES[id % STATUSES.length]
  }","paid":${id % 2 === 0},"note":""}\n`;
}

const encoder = new TextEncoder();
const CRLFCRLF = [13, 10, 13, 10];

/**
 * One keep-alive HTTP/1.1 connection issuing requests one after another. Deno's fetch client opens and churns
 * connections under high concurrency and would be the bottleneck of both sides; this one costs next to nothing.
 */
class Connection {
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #host: string;

  private constructor(conn: Deno.TcpConn, host: string) {
    this.#conn = conn;
    this.#host = host;
  }

  static async open(url: URL): Promise<Connection> {
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    conn.setNoDelay(true);
    return new Connection(conn, url.host);
  }

  /** Sends one POST and returns the status once the whole response is read. */
  async post(path: string, body: string, contentType: string): Promise<number> {
    const payload = encoder.encode(body);
    const head = encoder.encode(
      `POST ${path} HTTP/1.1\r\nhost: ${this.#host}\r\ncontent-type: ${contentType}\r\n` +
        `content-length: ${payload.length}\r\n\r\n`,
    );
    const request = new Uint8Array(head.length + payload.length);
    request.set(head);
    request.set(payload, head.length);
    for (let at = 0; at < request.length;) at += await this.#conn.write(request.subarray(at));
    let end = -1;
    while ((end = indexOf(this.#buffer, CRLFCRLF)) < 0) await this.#fill();
    const headers = new TextDecoder().decode(this.#buffer.subarray(0, end)).toLowerCase();
    const status = Number(headers.slice(9, 12));
    const length = /content-length: *(\d+)/.exec(headers);
    let rest = end + 4;
    if (length) {
      const total = rest + Number(length[1]);
      while (this.#buffer.length < total) await this.#fill();
      rest = total;
    } else {
      // Chunked: the body ends with a zero-size chunk.
      const last = [48, 13, 10, 13, 10];
      let tail = -1;
      while ((tail = indexOf(this.#buffer, last, rest)) < 0) await this.#fill();
      rest = tail + last.length;
    }
    this.#buffer = this.#buffer.slice(rest);
    return status;
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("Connection closed by the server");
    const next = new Uint8Array(this.#buffer.length + n);
    next.set(this.#buffer);
    next.set(chunk.subarray(0, n), this.#buffer.length);
    this.#buffer = next;
  }

  close(): void {
    this.#conn.close();
  }
}

function indexOf(haystack: Uint8Array, needle: readonly number[], from = 0): number {
  outer: for (let i = from; i <= haystack.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function load(request: EventsLoad): Promise<EventsLoadResult> {
  const url = new URL(request.url);
  const latencies = new Float64Array(request.count);
  const failures: Record<string, number> = {};
  let next = 0;
  let done = 0;
  const client = async () => {
    let connection = await Connection.open(url);
    try {
      while (next < request.count) {
        const i = next++;
        const body = eventBody(request.firstId + i);
        const started = performance.now();
        try {
          const status = await connection.post(url.pathname, body, "application/x-ndjson");
          if (status < 200 || status > 299) failures[status] = (failures[status] ?? 0) + 1;
        } catch (error) {
          const name = error instanceof Error ? error.name : "error";
          failures[name] = (failures[name] ?? 0) + 1;
          connection.close();
          connection = await Connection.open(url);
        }
        latencies[done++] = performance.now() - started;
      }
    } finally {
      connection.close();
    }
  };
  await Promise.all(Array.from({ length: request.concurrency }, client));
  return { latencies, failures };
}

// Only when loaded as a worker: `self` is a WorkerGlobalScope there.
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<EventsLoad>) => void) | null;
  postMessage?: (message: EventsLoadResult) => void;
  WorkerGlobalScope?: unknown;
};
if (scope.WorkerGlobalScope !== undefined) {
  scope.onmessage = (event) => {
    load(event.data).then((result) => scope.postMessage!(result));
  };
}
