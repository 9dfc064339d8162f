import { serialize, type JsonRpcMessage } from "./jsonrpc.ts";

/**
 * Newline-delimited JSON, the MCP stdio framing: one message per line, no embedded newlines.
 * Feed it chunks; it calls back once per complete line. A line that is not JSON is reported, not thrown,
 * because a backend that prints junk to stdout must not take the gateway down.
 */
export class LineDecoder {
  private buffered = "";
  private readonly onLine: (value: unknown) => void;
  private readonly onJunk: (line: string, error: Error) => void;
  private readonly maxLineBytes: number;

  constructor(onLine: (value: unknown) => void, onJunk: (line: string, error: Error) => void, maxLineBytes = 64 * 1024 * 1024) {
    this.onLine = onLine;
    this.onJunk = onJunk;
    this.maxLineBytes = maxLineBytes;
  }

  push(chunk: string): void {
    let text = this.buffered + chunk;
    let newline = text.indexOf("\n");
    while (newline !== -1) {
      const line = text.slice(0, newline).replace(/\r$/, "");
      text = text.slice(newline + 1);
      if (line.trim().length > 0) this.emit(line);
      newline = text.indexOf("\n");
    }
    if (text.length > this.maxLineBytes) {
      this.onJunk(text.slice(0, 200), new Error(`line longer than ${this.maxLineBytes} bytes dropped`));
      text = "";
    }
    this.buffered = text;
  }

  private emit(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      this.onJunk(line.slice(0, 200), error as Error);
      return;
    }
    this.onLine(value);
  }
}

export function encodeLine(message: JsonRpcMessage): string {
  return serialize(message) + "\n";
}
