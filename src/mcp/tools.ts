// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The tools `toxtunnel mcp` offers: names, descriptions and JSON Schemas written for an
 * assistant to follow, the checking of their arguments (each problem named with the argument
 * and what would be valid, as the CLI does for its flags), and the call into the
 * TunnelManager. A tool's failure is a result with isError and the message, never a thrown
 * protocol error: the assistant reads it and can correct itself.
 */
import { ToxtunnelError, isToxtunnelError } from '../errors.ts';
import type { CreateRequest, TunnelManager } from './tunnel-manager.ts';

export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; properties: Record<string, unknown>; required?: string[]; additionalProperties: false };
}

export interface ToolResult {
  [key: string]: unknown;
  content: Array<{ type: 'text'; text: string }>;
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

const port = (description: string, min = 1) => ({ type: 'integer', minimum: min, maximum: 65535, description });
const serverId = {
  type: 'string',
  description: "The toxtunnel server's Tox ID (76 hex characters, from `toxtunnel print-id` on the server). Optional when the config names the server (client.server_id) or a tunnel was already made.",
};
const tunnelId = { type: 'string', description: 'A tunnel id from tunnel_create or tunnel_list, e.g. "t1".' };

export const TOOLS: ToolDefinition[] = [
  {
    name: 'tunnel_create',
    title: 'Create a tunnel',
    description: [
      'Opens a TCP tunnel through the toxtunnel server over the Tox network, like ssh -L / -R / -D.',
      'type "local" (ssh -L): listens on bind:local_port here; each connection reaches remote_host:remote_port as the server sees it (127.0.0.1 is the server itself). The server must allow that target in its rules; a refused target is an error and nothing stays open.',
      'type "dynamic" (ssh -D): a SOCKS5 proxy on bind:local_port here; each SOCKS5 client picks its own target (the server\'s rules still apply).',
      'type "remote" (ssh -R): the server listens on remote_bind:remote_port on its side; its connections come to local_host:local_port here.',
      'Returns the tunnel id (for tunnel_close and tunnel_stats), local_address (connect there) and the state. local_port 0 picks a free port.',
    ].join(' '),
    inputSchema: {
      type: 'object',
      properties: {
        type: { type: 'string', enum: ['local', 'remote', 'dynamic'], description: 'local (-L), remote (-R) or dynamic (-D, SOCKS5).' },
        local_port: port('local: port to listen on here (0 = any free port; default 0). dynamic: the SOCKS5 port (default 0). remote: the port of the service here that the server\'s connections reach (required).', 0),
        bind: { type: 'string', description: 'local/dynamic: address to listen on here (default 127.0.0.1: this machine only).' },
        remote_host: { type: 'string', description: 'local: the host the server connects to (resolved on the server), e.g. 127.0.0.1 or db.internal. Required for local.' },
        remote_port: port('local: the port the server connects to (required). remote: the port the server listens on (required).'),
        remote_bind: { type: 'string', description: 'remote: address the server listens on (default: the server\'s 127.0.0.1).' },
        local_host: { type: 'string', description: 'remote: the host here that the server\'s connections reach (default 127.0.0.1).' },
        server_id: serverId,
        wait_seconds: { type: 'integer', minimum: 0, maximum: 120, description: 'How long to wait for the server and its answer before returning (default 30). The tunnel still works once the server is reachable.' },
      },
      required: ['type'],
      additionalProperties: false,
    },
  },
  {
    name: 'tunnel_list',
    title: 'List tunnels',
    description: 'Lists the open tunnels: id, type, state (active, waiting for the server, requested, refused), local_address, target, connections (total and active), bytes in/out and rates in bytes per second over the last seconds.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  },
  {
    name: 'tunnel_close',
    title: 'Close a tunnel',
    description: 'Closes a tunnel: stops its listener (or the server\'s, for remote) and closes its open connections. Returns its final counters.',
    inputSchema: { type: 'object', properties: { id: tunnelId }, required: ['id'], additionalProperties: false },
  },
  {
    name: 'tunnel_stats',
    title: 'Tunnel statistics',
    description: 'Counters and rates of one tunnel (give id), or of the whole session without id: tunnels open, connections total/active, errors, bytes in/out, rates.',
    inputSchema: { type: 'object', properties: { id: { ...tunnelId, description: `${tunnelId.description} Leave out for the totals.` } }, additionalProperties: false },
  },
  {
    name: 'server_status',
    title: 'Server status',
    description: 'Whether the toxtunnel server is online, how it is reached (UDP directly or through a TCP relay), the round-trip time of a ping (ms), its protocol extensions, and the proxy in use.',
    inputSchema: { type: 'object', properties: { server_id: serverId }, additionalProperties: false },
  },
  {
    name: 'print_id',
    title: "This client's Tox ID",
    description: "This client's Tox ID and public key (public; the server's rules file names the client by the public key, the first 64 characters). Creates the identity if there is none yet.",
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  },
];

/** Checks a tool's arguments against its schema; the message names the argument and what is valid. */
function checkArguments(tool: ToolDefinition, args: Record<string, unknown>): void {
  const bad = (message: string) => new ToxtunnelError('MCP_BAD_ARGUMENT', `${tool.name}: ${message}`);
  const properties = tool.inputSchema.properties as Record<string, { type: string; enum?: string[]; minimum?: number; maximum?: number }>;
  for (const [key, value] of Object.entries(args)) {
    const spec = properties[key];
    if (!spec) throw bad(`unknown argument "${key}"${Object.keys(properties).length ? ` (arguments: ${Object.keys(properties).join(', ')})` : ' (it takes none)'}`);
    if (spec.type === 'integer') {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw bad(`${key} must be a whole number, got ${JSON.stringify(value)}`);
      if (value < spec.minimum! || value > spec.maximum!) throw bad(`${key} must be ${spec.minimum}..${spec.maximum}, got ${value}`);
    } else if (typeof value !== 'string') {
      throw bad(`${key} must be a string, got ${JSON.stringify(value)}`);
    } else if (spec.enum && !spec.enum.includes(value)) {
      throw bad(`${key} must be one of ${spec.enum.join(', ')}, got ${JSON.stringify(value)}`);
    } else if (value.trim() === '') {
      throw bad(`${key} is empty`);
    }
  }
  for (const key of tool.inputSchema.required ?? []) if (args[key] === undefined) throw bad(`missing "${key}"`);
}

/** The request tunnel_create describes; arguments that do not belong to its type are refused. */
function createRequest(args: Record<string, unknown>): CreateRequest {
  const bad = (message: string) => new ToxtunnelError('MCP_BAD_ARGUMENT', `tunnel_create: ${message}`);
  const str = (key: string) => (args[key] as string | undefined)?.trim();
  const num = (key: string) => args[key] as number | undefined;
  const only = (type: string, allowed: string[]) => {
    const extra = Object.keys(args).filter((k) => !['type', 'server_id', 'wait_seconds', ...allowed].includes(k));
    if (extra.length) throw bad(`${extra.join(', ')} ${extra.length > 1 ? 'do' : 'does'} not apply to type "${type}" (it takes ${allowed.join(', ')})`);
  };
  switch (args.type) {
    case 'local': {
      only('local', ['local_port', 'bind', 'remote_host', 'remote_port']);
      if (!str('remote_host')) throw bad('type "local" needs remote_host (the host the server connects to, e.g. 127.0.0.1)');
      if (num('remote_port') === undefined) throw bad('type "local" needs remote_port (the port the server connects to)');
      return { type: 'local', localPort: num('local_port') ?? 0, bind: str('bind') ?? '127.0.0.1', remoteHost: str('remote_host')!, remotePort: num('remote_port')! };
    }
    case 'dynamic':
      only('dynamic', ['local_port', 'bind']);
      return { type: 'dynamic', localPort: num('local_port') ?? 0, bind: str('bind') ?? '127.0.0.1' };
    default: {
      only('remote', ['remote_port', 'remote_bind', 'local_host', 'local_port']);
      if (num('remote_port') === undefined) throw bad('type "remote" needs remote_port (the port the server listens on)');
      if (!num('local_port')) throw bad('type "remote" needs local_port (1..65535: the service here that the server\'s connections reach)');
      return { type: 'remote', remotePort: num('remote_port')!, remoteBind: str('remote_bind'), localHost: str('local_host') ?? '127.0.0.1', localPort: num('local_port')! };
    }
  }
}

const ok = (structured: Record<string, unknown>): ToolResult => ({
  content: [{ type: 'text', text: JSON.stringify(structured, null, 2) }],
  structuredContent: structured,
});

/** Runs one tool call; every failure comes back as an isError result with its message. */
export async function callTool(manager: TunnelManager, name: string, rawArgs: unknown): Promise<ToolResult> {
  try {
    const tool = TOOLS.find((t) => t.name === name);
    if (!tool) throw new ToxtunnelError('MCP_UNKNOWN_TOOL', `no tool "${name}" (tools: ${TOOLS.map((t) => t.name).join(', ')})`);
    const args = (rawArgs ?? {}) as Record<string, unknown>;
    if (typeof args !== 'object' || Array.isArray(args)) throw new ToxtunnelError('MCP_BAD_ARGUMENT', `${name}: the arguments must be an object`);
    checkArguments(tool, args);
    switch (name) {
      case 'tunnel_create': {
        const request = createRequest(args);
        const waitMs = ((args.wait_seconds as number | undefined) ?? 30) * 1000;
        return ok({ ...(await manager.create(request, { waitMs, ...(args.server_id ? { serverId: args.server_id as string } : {}) })) });
      }
      case 'tunnel_list':
        return ok({ tunnels: manager.list() });
      case 'tunnel_close':
        return ok({ closed: manager.close(args.id as string) });
      case 'tunnel_stats':
        return ok(manager.stats(args.id as string | undefined));
      case 'server_status':
        return ok(await manager.serverStatus(args.server_id as string | undefined));
      default:
        return ok(await manager.printId());
    }
  } catch (error) {
    // Our errors carry the sentence the CLI prints; anything else is a bug, said as such.
    const text = isToxtunnelError(error) ? error.message : `unexpected error (a bug in toxtunnel): ${(error as Error)?.message ?? String(error)}`;
    return { content: [{ type: 'text', text }], isError: true };
  }
}
