// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel mcp`: a Model Context Protocol server on stdin/stdout (JSON-RPC, one message a
 * line), built on the official SDK's low-level Server (@modelcontextprotocol/sdk; its McpServer
 * would bring zod's JSON Schema converter, ~0.6 MB more bundle, for schemas we write by hand in
 * tools.ts). It drives a toxtunnel client through the library (TunnelManager).
 *
 * stdout carries only protocol messages: every log line goes to stderr. The process stays up
 * while the MCP host keeps stdin open (tunnels live on, the client reconnects by itself); when
 * stdin ends it closes every tunnel, stops the client and exits 0. docs/mcp.md.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { type CliFlags, resolveConfig } from '../config/config.ts';
import { ToxtunnelError } from '../errors.ts';
import { createLogger } from '../cli/logging.ts';
import { AjvJsonSchemaValidator } from './no-schema-validator.ts';
import { callTool, TOOLS } from './tools.ts';
import { TunnelManager } from './tunnel-manager.ts';

export async function runMcp(flags: CliFlags, version: string): Promise<void> {
  const config = resolveConfig({ ...flags, mode: flags.mode ?? 'client' }, process.env, { clientLater: true });
  if (config.mode !== 'client') {
    throw new ToxtunnelError('CLI_INVALID', `toxtunnel mcp drives a client, and the mode here is "${config.mode}": give it a client config (mode: client) or none`);
  }
  const log = createLogger(config.logLevel, { allToStderr: true });
  const manager = new TunnelManager(config, log);
  await manager.startConfigured();

  const server = new Server(
    { name: 'toxtunnel', version },
    {
      capabilities: { tools: {} },
      jsonSchemaValidator: new AjvJsonSchemaValidator(),
      instructions:
        'toxtunnel forwards TCP ports through a toxtunnel server over the Tox network (like ssh -L/-R/-D, without an open port on either side). Use tunnel_create, then connect to its local_address; close tunnels you no longer need with tunnel_close.',
    },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => callTool(manager, request.params.name, request.params.arguments));

  let ending = false;
  const end = (why: string) => {
    if (ending) return;
    ending = true;
    log.info(`toxtunnel mcp: ${why}: closing every tunnel`);
    manager
      .stop()
      .catch((error: Error) => log.error(error.message))
      .finally(() => process.exit(0));
  };
  process.stdin.once('end', () => end('stdin ended'));
  process.stdin.once('close', () => end('stdin closed'));
  process.once('SIGINT', () => end('SIGINT'));
  process.once('SIGTERM', () => end('SIGTERM'));
  await server.connect(new StdioServerTransport());
  log.info(`toxtunnel mcp: serving ${TOOLS.length} tools on stdio${config.serverId ? ` for the server ${config.serverId.slice(0, 8)}…` : ' (no server configured yet)'}`);
}
