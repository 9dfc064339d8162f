/** Server-Sent Events, both directions: encoding for our responses, parsing for upstream streams. */

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

export function encodeSseEvent(data: string, options: { event?: string; id?: string } = {}): string {
  let out = "";
  if (options.id !== undefined) out += `id: ${options.id}\n`;
  if (options.event !== undefined) out += `event: ${options.event}\n`;
  for (const line of data.split("\n")) out += `data: ${line}\n`;
  return out + "\n";
}

/** Incremental parser following the WHATWG event-stream rules (comments, multi-line data, CRLF). */
export class SseParser {
  private buffered = "";
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private retry: number | undefined;
  private readonly onEvent: (event: SseEvent) => void;

  constructor(onEvent: (event: SseEvent) => void) {
    this.onEvent = onEvent;
  }

  push(chunk: string): void {
    const text = this.buffered + chunk;
    const lines = text.split(/\r\n|\r|\n/);
    this.buffered = lines.pop() ?? "";
    for (const line of lines) this.line(line);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0) {
        const event: SseEvent = { data: this.data.join("\n") };
        if (this.event !== undefined) event.event = this.event;
        if (this.id !== undefined) event.id = this.id;
        if (this.retry !== undefined) event.retry = this.retry;
        this.onEvent(event);
      }
      this.data = [];
      this.event = undefined;
      this.retry = undefined;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id") this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
  }
}
