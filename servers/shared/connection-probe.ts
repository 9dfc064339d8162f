// Opens one TCP connection to the host and port of a URL and reports what happened. Used to prove that a
// container started with `--network none` really has no network: the answer must be a clear, machine-readable
// outcome (connected, or the errno code such as ENOTFOUND / EAI_AGAIN / ENETUNREACH / ECONNREFUSED), never a throw.
// It stops at TCP: no TLS handshake, no HTTP request, so nothing is sent to the remote host.
// Shared by notes' fetch_url and probe's connect, which declare the same output schema.
import { connect } from "node:net";
import { z } from "zod";

export interface ConnectionProbe {
  url: string;
  host: string;
  port: number;
  outcome: "connected" | "error";
  /** The errno-style code when outcome is "error" (ETIMEDOUT when our own timer fired). */
  code?: string;
  /** The remote address actually reached, when connected. */
  remoteAddress?: string;
  message: string;
  elapsedMs: number;
}

/** The outputSchema of a tool whose structuredContent is a ConnectionProbe. */
export const connectionProbeShape = {
  url: z.string(),
  host: z.string(),
  port: z.number(),
  outcome: z.enum(["connected", "error"]),
  code: z.string().optional(),
  remoteAddress: z.string().optional(),
  message: z.string(),
  elapsedMs: z.number(),
};

/** "connected: …" or "error CODE: …", the one-line text a probe tool answers with. */
export function describeProbe(probe: ConnectionProbe): string {
  return probe.outcome === "connected" ? `connected: ${probe.message}` : `error ${probe.code}: ${probe.message}`;
}

const DEFAULT_PORTS: Record<string, number> = { "http:": 80, "https:": 443, "ws:": 80, "wss:": 443 };

type Target = Pick<ConnectionProbe, "url" | "host" | "port">;

function failure(target: Target, code: string, message: string, elapsedMs: number): ConnectionProbe {
  return { ...target, outcome: "error", code, message, elapsedMs };
}

export function probeConnection(rawUrl: string, timeoutMs: number): Promise<ConnectionProbe> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    const target = { url: rawUrl, host: "", port: 0 };
    return Promise.resolve(failure(target, "EINVALIDURL", "not a valid URL", elapsed()));
  }
  // URL keeps the brackets around IPv6 literals; the socket API wants them gone.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : (DEFAULT_PORTS[url.protocol] ?? 0);
  const target = { url: url.href, host, port };
  if (!host || port === 0) {
    const message = `cannot tell which host and port to connect to for ${url.protocol} URLs`;
    return Promise.resolve(failure(target, "EUNSUPPORTED", message, elapsed()));
  }

  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (probe: ConnectionProbe) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(probe);
    };
    const timer = setTimeout(() => {
      finish(failure(target, "ETIMEDOUT", `no connection within ${timeoutMs} ms`, elapsed()));
    }, timeoutMs);
    socket.once("connect", () => {
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      finish({ ...target, outcome: "connected", remoteAddress: socket.remoteAddress, message: `connected to ${remote}`, elapsedMs: elapsed() });
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      finish(failure(target, error.code ?? "EUNKNOWN", error.message, elapsed()));
    });
  });
}
