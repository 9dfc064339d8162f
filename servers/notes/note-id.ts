// Note ids become file names, so they are the one thing standing between a client and the filesystem.
// The pattern admits no dots, slashes, backslashes, percent signs or NULs: nothing that can climb out of
// NOTES_DIR, hide as a dotfile, or mean something different after URL decoding.
import { z } from "zod";

export const NOTE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const noteIdSchema = z
  .string()
  .regex(NOTE_ID_PATTERN, "note id must be 1-64 characters of A-Z a-z 0-9 _ - and start with a letter or digit")
  .describe("Note id: 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit");

/** Large enough for real notes, small enough that one write cannot exhaust the container's memory limit. */
export const MAX_NOTE_CHARS = 1_000_000;

export const noteTextSchema = z.string().max(MAX_NOTE_CHARS).describe("The note's full text (Markdown)");

export function isNoteId(value: unknown): value is string {
  return typeof value === "string" && NOTE_ID_PATTERN.test(value);
}

export const NOTE_URI_PREFIX = "notes://note/";
export const NOTE_URI_TEMPLATE = `${NOTE_URI_PREFIX}{id}`;

export function noteUri(id: string): string {
  return `${NOTE_URI_PREFIX}${id}`;
}

/** The id in a note URI, or undefined when the URI is not a well-formed note URI. */
export function noteIdFromUri(uri: string): string | undefined {
  if (!uri.startsWith(NOTE_URI_PREFIX)) return undefined;
  const id = uri.slice(NOTE_URI_PREFIX.length);
  return isNoteId(id) ? id : undefined;
}
