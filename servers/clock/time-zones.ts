// Time zone names and the wall-clock time in a zone, all through Intl: official Node builds carry the full ICU
// time zone data, so this works in a FROM scratch image without /usr/share/zoneinfo.
import { z } from "zod";

/** ICU's canonical IANA names. Aliases such as UTC, Etc/UTC or Asia/Kolkata are not in it, yet Intl accepts them. */
export const SUPPORTED_TIME_ZONES: readonly string[] = Intl.supportedValuesOf("timeZone");
const supported = new Set(SUPPORTED_TIME_ZONES);

// IANA-shaped: letters first, "/"-separated segments. Keeps out the offset zones ("+01:00") Intl also accepts,
// and anything else that is not a name.
const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;
const MAX_NAME_LENGTH = 64;

/**
 * The name to use for `name`, or undefined when it is not a time zone. A supported name or an alias Intl accepts
 * is kept as written (ICU would turn Asia/Kathmandu into Asia/Katmandu); only its case is corrected ("utc" → UTC).
 */
export function resolveTimeZone(name: string): string | undefined {
  if (supported.has(name)) return name;
  if (name.length > MAX_NAME_LENGTH || !IANA_NAME.test(name)) return undefined;
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat("en-US", { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
  return resolved.toLowerCase() === name.toLowerCase() ? resolved : name;
}

/** The zone this process's clock is in: TZ or /etc/localtime, and UTC in a scratch image that has neither. */
export function localTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export interface ZonedTime {
  timeZone: string;
  /** ISO 8601 with the zone's offset, e.g. 2025-06-01T14:03:05+02:00. */
  iso: string;
  /** Wall-clock date and time there, without offset. */
  localTime: string;
  utcOffset: string;
  weekday: string;
}

export const zonedTimeShape = {
  timeZone: z.string(),
  iso: z.string(),
  localTime: z.string(),
  utcOffset: z.string(),
  weekday: z.string(),
};

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
      weekday: "long",
      timeZoneName: "longOffset",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** `date` on the wall clock of `timeZone`, which must be a name resolveTimeZone accepted. */
export function zonedTime(date: Date, timeZone: string): ZonedTime {
  const parts = new Map(formatterFor(timeZone).formatToParts(date).map((part) => [part.type, part.value]));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.get(type) ?? "";
  const localTime = `${part("year")}-${part("month")}-${part("day")}T${part("hour")}:${part("minute")}:${part("second")}`;
  // "GMT+05:45", or plain "GMT" for a zero offset.
  const utcOffset = part("timeZoneName").replace(/^GMT/, "") || "+00:00";
  return { timeZone, iso: `${localTime}${utcOffset}`, localTime, utcOffset, weekday: part("weekday") };
}

/** Splits "Europe/Paris, Asia/Tokyo" into resolved zones; names that are not zones come back in `unknown`. */
export function parseZoneList(text: string): { zones: string[]; unknown: string[] } {
  const zones: string[] = [];
  const unknown: string[] = [];
  for (const name of text.split(",").map((entry) => entry.trim()).filter(Boolean)) {
    const zone = resolveTimeZone(name);
    if (zone === undefined) unknown.push(name);
    else if (!zones.includes(zone)) zones.push(zone);
  }
  return { zones, unknown };
}
