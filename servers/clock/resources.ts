// clock://zones lists every zone name; clock://zone/{name} is the current time in one zone. A template variable
// matches no "/", so a name like Europe/Paris travels URL-encoded (clock://zone/Europe%2FParis): it is decoded
// here and must then resolve to a known zone, which also keeps anything that is not a zone name out.
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { resolveTimeZone, SUPPORTED_TIME_ZONES, zonedTime } from "./time-zones.ts";

const JSON_TYPE = "application/json";
const MAX_COMPLETIONS = 100;
export const ZONES_URI = "clock://zones";
export const ZONE_URI_TEMPLATE = "clock://zone/{name}";

export function zoneUri(name: string): string {
  return `clock://zone/${encodeURIComponent(name)}`;
}

/** The zone a template variable names, or undefined: it must be one string that decodes to a known zone. */
export function zoneFromVariable(variable: string | string[] | undefined): string | undefined {
  if (typeof variable !== "string") return undefined;
  let name: string;
  try {
    name = decodeURIComponent(variable);
  } catch {
    return undefined; // a malformed escape such as "%E0%A4"
  }
  return resolveTimeZone(name);
}

export function registerClockResources(server: McpServer): void {
  server.registerResource(
    "zones",
    ZONES_URI,
    { title: "Time zones", description: "Every IANA time zone name this server knows, as a JSON array", mimeType: JSON_TYPE },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: JSON_TYPE, text: JSON.stringify(SUPPORTED_TIME_ZONES) }] }),
  );

  const template = new ResourceTemplate(ZONE_URI_TEMPLATE, {
    // Not listed one by one (hundreds of entries): clock://zones is the list, and completion finds names.
    list: undefined,
    complete: {
      name: (prefix) => {
        const wanted = prefix.toLowerCase();
        return SUPPORTED_TIME_ZONES.filter((zone) => zone.toLowerCase().startsWith(wanted)).slice(0, MAX_COMPLETIONS);
      },
    },
  });

  server.registerResource(
    "zone",
    template,
    {
      title: "Time in a zone",
      description: "The current time in one IANA zone; the name is URL-encoded, e.g. clock://zone/Europe%2FParis",
      mimeType: JSON_TYPE,
    },
    async (uri, variables) => {
      const zone = zoneFromVariable(variables.name);
      if (zone === undefined) throw new McpError(ErrorCode.InvalidParams, `unknown time zone in ${uri.href}`);
      const now = new Date();
      const body = { utc: now.toISOString(), ...zonedTime(now, zone) };
      return { contents: [{ uri: uri.href, mimeType: JSON_TYPE, text: JSON.stringify(body) }] };
    },
  );
}
