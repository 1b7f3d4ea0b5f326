// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Prometheus metrics, opt-in (`--metrics [bind:]port`, `metrics:` in the config): GET /metrics
 * answers in the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` lines,
 * then `name{label="value",…} value` samples; label values escape \, " and newline; counters
 * end in _total. Written by hand (no library: prom-client is Node-only and large); the tests
 * read the output with the reference parser (python3-prometheus-client).
 *
 * Made from the instance's observe() at each scrape, so it costs nothing between scrapes.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from '../app/logger.ts';
import type { Observation } from '../app/observe.ts';
import { ToxtunnelError } from '../errors.ts';
import { osErrorText } from '../os-errors.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface BuildInfo {
  version: string;
  runtime: string;
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (pairs: Record<string, string>) => {
  const text = Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',');
  return text ? `{${text}}` : '';
};

/** The exposition text for one observation. */
export function renderMetrics(seen: Observation, build: BuildInfo): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of samples) out.push(`${name}${labels(l)} ${Number.isFinite(v) ? v : 0}`);
  };
  const friendLabel = (f: Observation['friends'][number]) => ({ friend: f.name ?? f.publicKey.slice(0, 8), public_key: f.publicKey });
  family('toxtunnel_build_info', 'gauge', 'Version and JavaScript runtime of this toxtunnel (always 1).', [[{ version: build.version, runtime: build.runtime }, 1]]);
  family('toxtunnel_start_time_seconds', 'gauge', 'When this toxtunnel started (Unix time).', [[{}, Date.parse(seen.startedAt) / 1000]]);
  family('toxtunnel_tox_connected', 'gauge', '1 when connected to the Tox network (UDP or TCP relay), else 0.', [[{}, seen.network === 'none' ? 0 : 1]]);
  family(
    'toxtunnel_friend_connected',
    'gauge',
    '1 when the friend is online, by transport (udp: direct, tcp: through a relay, none: offline).',
    seen.friends.map((f) => [{ ...friendLabel(f), transport: f.connection }, f.connection === 'none' ? 0 : 1]),
  );
  family(
    'toxtunnel_friend_rtt_seconds',
    'gauge',
    'Round trip of the last keepalive ping to the friend (measured when the link is idle).',
    seen.friends.filter((f) => f.rttMs !== undefined).map((f) => [friendLabel(f), f.rttMs! / 1000]),
  );
  family('toxtunnel_tunnels_open', 'gauge', 'Tunnels open now.', [[{}, seen.tunnelsOpen]]);
  family('toxtunnel_tunnels_opened_total', 'counter', 'Tunnels opened since start.', [[{}, seen.tunnelsOpenedTotal]]);
  family(
    'toxtunnel_bytes_total',
    'counter',
    'Payload bytes carried through tunnels since start, per friend (in: from the friend, out: to it).',
    seen.friends.flatMap((f): Array<[Record<string, string>, number]> => [
      [{ ...friendLabel(f), direction: 'in' }, f.bytesIn],
      [{ ...friendLabel(f), direction: 'out' }, f.bytesOut],
    ]),
  );
  const errors = { open: 0, tunnel: 0, ...seen.errors };
  family(
    'toxtunnel_errors_total',
    'counter',
    'Errors since start by kind (open: a tunnel refused or failed before it opened; tunnel: one that ended with an error).',
    Object.entries(errors).map(([kind, n]) => [{ kind }, n]),
  );
  return `${out.join('\n')}\n`;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics on host:port; METRICS_LISTEN_FAILED (in words) when it cannot listen. */
export async function startMetricsServer(
  where: { host: string; port: number; loopback: boolean },
  observe: () => Observation,
  build: BuildInfo,
  log: Logger,
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET /metrics\n');
    } else if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('toxtunnel serves /metrics only\n');
    } else {
      let body: string;
      try {
        body = renderMetrics(observe(), build);
      } catch (error) {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read the metrics: ${(error as Error).message}\n`);
        return;
      }
      response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
      response.end(request.method === 'HEAD' ? undefined : body);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new ToxtunnelError(
          'METRICS_LISTEN_FAILED',
          `cannot serve metrics on ${where.host}:${where.port}: ${osErrorText(error)} (choose another port with --metrics or metrics: in the config)`,
          { host: where.host, port: where.port },
          { cause: error },
        ),
      ),
    );
    server.listen(where.port, where.host, () => resolve());
  });
  server.on('error', (error) => log.warn(`metrics server: ${osErrorText(error)}`));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : where.port;
  const host = where.host.includes(':') ? `[${where.host}]` : where.host;
  if (!where.loopback) log.warn(`metrics on ${host}:${port} are reachable from the network: they show friend keys, names and traffic; firewall the port or bind 127.0.0.1`);
  log.info(`metrics: http://${host}:${port}/metrics`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
