/**
 * Cursor pagination of the merged lists. A cursor is opaque to clients: base64url of JSON {l: list, v: table
 * version, o: offset}. A cursor made for an older table keeps working from its offset (clamped to the new list's
 * length), because a list_changed between two pages must not break a client's walk; the client re-lists anyway.
 */
import { ErrorCode, JsonRpcError } from "../protocol/index.ts";

interface CursorState {
  l: string;
  v: number;
  o: number;
}

/** Cursors are short; anything longer is not ours. */
const MAX_CURSOR_LENGTH = 512;

export function encodeCursor(list: string, version: number, offset: number): string {
  const state: CursorState = { l: list, v: version, o: offset };
  return Buffer.from(JSON.stringify(state), "utf8").toString("base64url");
}

function invalid(reason: string): JsonRpcError {
  return new JsonRpcError(ErrorCode.InvalidParams, `invalid cursor: ${reason}`);
}

function decodeCursor(cursor: string): CursorState {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalid("not a cursor this gateway issued");
  }
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid("not a cursor this gateway issued");
  }
  if (typeof state !== "object" || state === null) throw invalid("not a cursor this gateway issued");
  const { l, v, o } = state as Partial<Record<keyof CursorState, unknown>>;
  if (typeof l !== "string" || !Number.isSafeInteger(v) || !Number.isSafeInteger(o) || (o as number) < 0 || (v as number) < 0) {
    throw invalid("not a cursor this gateway issued");
  }
  return { l, v: v as number, o: o as number };
}

/**
 * One page of `items`. `list` names the list ("tools", "prompts", ...) so that a cursor from one list is refused
 * by another. Throws JsonRpcError(InvalidParams) for a cursor that does not decode, belongs to another list, or
 * (for the current version) points past the end.
 */
export function paginate<T>(
  items: readonly T[],
  cursor: string | undefined,
  pageSize: number,
  version: number,
  list: string,
): { page: T[]; nextCursor?: string } {
  if (!Number.isSafeInteger(pageSize) || pageSize < 1) throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`);
  let offset = 0;
  if (cursor !== undefined) {
    const state = decodeCursor(cursor);
    if (state.l !== list) throw invalid(`it belongs to another list ("${state.l}"), not "${list}"`);
    if (state.v === version) {
      // This version only issues cursors to where items remain.
      if (state.o >= items.length) throw invalid(`offset ${state.o} is out of range (${items.length} items)`);
      offset = state.o;
    } else {
      offset = Math.min(state.o, items.length);
    }
  }
  const end = Math.min(offset + pageSize, items.length);
  const page = items.slice(offset, end);
  return end < items.length ? { page, nextCursor: encodeCursor(list, version, end) } : { page };
}
