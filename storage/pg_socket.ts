/**
 * The socket postgres.js connects through, with Nagle's algorithm off. postgres.js under Deno's `node:net` leaves
 * it on, and COPY sends its data and its CopyDone as two small writes: the second waits for the server's delayed
 * ACK of the first, which made every COPY take about 100 ms however small its batch (10 ms with this socket, on
 * the same machine; plain queries gain too). Pass {@linkcode connectNoDelay} as the `socket` option.
 *
 * @module
 */
import net from "node:net";

/** What postgres.js hands its `socket` option: its parsed connection options. */
export interface SocketTarget {
  host: string[];
  port: number[];
  path?: string | false;
  /** Seconds; postgres.js' `connect_timeout`. */
  connect_timeout?: number;
}

/**
 * Opens the TCP (or Unix) connection for postgres.js with `TCP_NODELAY`. Only the first host of a multi-host URL
 * is used.
 *
 * @example
 * ```ts ignore
 * import postgres from "postgres";
 * import { connectNoDelay } from "./pg_socket.ts";
 * const sql = postgres("postgres://127.0.0.1/test", { socket: connectNoDelay } as postgres.Options<{}>);
 * ```
 */
export function connectNoDelay(target: SocketTarget): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.path ? net.connect(target.path) : net.connect(target.port[0], target.host[0]);
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`Connecting to PostgreSQL timed out`), {
        code: "CONNECT_TIMEOUT",
      });
      socket.destroy(error);
    }, (target.connect_timeout ?? 30) * 1000);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(socket);
    });
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    socket.once("error", fail);
  });
}
