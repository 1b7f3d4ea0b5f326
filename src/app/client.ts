// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The client: listens on local ports (127.0.0.1 unless told otherwise) and carries each
 * accepted connection to the server as a tunnel: TUNNEL_OPEN(id, host, port), then data
 * once the server's ACK(0) says it connected. Pipe mode carries stdin/stdout instead (for
 * ssh's ProxyCommand).
 *
 * Connections accepted while the server is offline wait for it (bounded) instead of being
 * dropped; an OPEN the server does not answer in time fails with a clear message.
 */
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { ToxtunnelError } from '../errors.ts';
import { TunnelIdAllocator } from '../protocol/flow-control.ts';
import { parseToxId } from '../tox/tox-id.ts';
import type { Logger } from './logger.ts';
import { type NetworkOptions, ToxRuntime } from './tox-runtime.ts';

export interface Forward {
  /** Local address to listen on; default 127.0.0.1. */
  bind?: string;
  localPort: number;
  remoteHost: string;
  remotePort: number;
}

export interface ClientOptions extends NetworkOptions {
  serverId: string;
  forwards: Forward[];
  /** Friend request message (the shared secret, when the server asks for one). */
  requestMessage?: string;
  /** How long a local connection waits for the server to come online. */
  onlineWaitMs?: number;
  /** How long the server has to answer a TUNNEL_OPEN. */
  openTimeoutMs?: number;
}

export interface ForwardHandle {
  forward: Forward;
  /** The actual port (differs from forward.localPort when that was 0). */
  port: number;
  server: net.Server;
}

export class ToxtunnelClient {
  readonly forwards: ForwardHandle[] = [];
  private readonly serverFriend: number;
  private readonly ids = new TunnelIdAllocator();
  private onlineWaiters: Array<() => void> = [];
  /** Resolvers of carry() calls, by tunnel id. */
  private readonly finished = new Map<number, (error: string | undefined) => void>();
  private stopped = false;

  private constructor(
    readonly runtime: ToxRuntime,
    private readonly options: ClientOptions,
    private readonly log: Logger,
  ) {
    const serverId = parseToxId(options.serverId);
    const existing = runtime.node.friendByPublicKey(serverId.publicKeyHex);
    this.serverFriend = existing ?? runtime.node.addFriend(serverId.text, options.requestMessage ?? 'toxtunnel');
    if (existing === undefined) {
      runtime.save();
      log.info(`sent a friend request to the server ${serverId.publicKeyHex.slice(0, 8)}…`);
    }
    runtime.node.on('friendConnection', (friend, status) => {
      if (friend === this.serverFriend && status !== 'none') for (const wake of this.onlineWaiters.splice(0)) wake();
    });
  }

  static async start(options: ClientOptions, log: Logger): Promise<ToxtunnelClient> {
    parseToxId(options.serverId); // a bad ID fails before any socket is opened
    let client: ToxtunnelClient | undefined;
    const runtime = await ToxRuntime.start(options, log, {
      tunnelClosed: (_session, tunnel, error) => {
        client?.ids.release(tunnel.id);
        client?.finished.get(tunnel.id)?.(error);
        client?.finished.delete(tunnel.id);
        if (error) log.error(`tunnel ${tunnel.id} failed: ${error}`);
        else log.info(`tunnel ${tunnel.id} closed (${tunnel.stats.bytesOut} bytes sent, ${tunnel.stats.bytesIn} received)`);
      },
      badFrame: (_session, reason) => log.debug(`dropped a frame from the server: ${reason}`),
    });
    try {
      client = new ToxtunnelClient(runtime, options, log);
      for (const forward of options.forwards) await client.listen(forward);
    } catch (error) {
      client?.stop();
      runtime.stop();
      throw error;
    }
    return client;
  }

  get serverOnline(): boolean {
    return this.runtime.node.friendConnectionStatus(this.serverFriend) !== 'none';
  }

  private async listen(forward: Forward): Promise<void> {
    const bind = forward.bind ?? '127.0.0.1';
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
      void this.carry(socket, socket, forward.remoteHost, forward.remotePort),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new ToxtunnelError(
            'FORWARD_LISTEN_FAILED',
            `cannot listen on ${bind}:${forward.localPort} for ${forward.remoteHost}:${forward.remotePort}: ${error.code ?? error.message}`,
            { bind, port: forward.localPort },
          ),
        ),
      );
      server.listen({ host: bind, port: forward.localPort }, () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    this.forwards.push({ forward, port, server });
    this.log.info(`forwarding ${bind}:${port} -> ${forward.remoteHost}:${forward.remotePort}`);
  }

  /**
   * Carries one stream (a local connection, or stdin/stdout) to remoteHost:remotePort.
   * Resolves when the tunnel is finished: undefined if it closed normally, else why it failed.
   */
  async carry(input: Readable, output: Writable, remoteHost: string, remotePort: number): Promise<string | undefined> {
    input.pause();
    const destroy = () => {
      input.destroy();
      if (output !== (input as unknown)) output.destroy();
    };
    if (!(await this.waitOnline())) {
      const why = `the server did not come online within ${(this.options.onlineWaitMs ?? 60_000) / 1000} s`;
      this.log.error(`${why}: dropped a connection to ${remoteHost}:${remotePort}`);
      destroy();
      return why;
    }
    const id = this.ids.allocate();
    if (id === undefined) {
      this.log.error('all 65535 tunnel ids are in use');
      destroy();
      return 'all tunnel ids are in use';
    }
    const session = this.runtime.session(this.serverFriend);
    const tunnel = session.addTunnel(id, input, output, 'opening');
    session.send({ kind: 'open', tunnelId: id, host: remoteHost, port: remotePort });
    this.log.info(`tunnel ${id} opening -> ${remoteHost}:${remotePort}`);
    const timeoutMs = this.options.openTimeoutMs ?? 20_000;
    const timer = setTimeout(() => {
      if (tunnel.state === 'opening') tunnel.fail(`the server did not answer the open of ${remoteHost}:${remotePort} within ${timeoutMs / 1000} s`, true);
    }, timeoutMs);
    return new Promise((resolve) => {
      this.finished.set(id, (error) => {
        clearTimeout(timer);
        resolve(error);
      });
    });
  }

  private waitOnline(): Promise<boolean> {
    if (this.serverOnline) return Promise.resolve(true);
    const waitMs = this.options.onlineWaitMs ?? 60_000;
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(!this.stopped);
      };
      const timer = setTimeout(() => {
        this.onlineWaiters = this.onlineWaiters.filter((w) => w !== wake);
        resolve(false);
      }, waitMs);
      this.onlineWaiters.push(wake);
    });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const handle of this.forwards) handle.server.close();
    for (const wake of this.onlineWaiters.splice(0)) wake();
    this.runtime.stop();
  }
}
