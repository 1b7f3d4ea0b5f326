// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The questions `toxtunnel init` asks when it runs on a terminal (stdin and stdout are TTYs
 * and --yes is absent). Only what the flags did not say is asked; every question shows its
 * default in brackets (Enter takes it), and a bad answer is explained and asked again.
 */
import { createInterface } from 'node:readline/promises';
import { isToxtunnelError, ToxtunnelError } from '../errors.ts';
import {
  DEFAULT_TEMPORARY,
  defaultLocalPort,
  findScenario,
  type InitOptions,
  parseClientKey,
  parseExpires,
  parseHost,
  parsePortList,
  parseServerId,
  SCENARIOS,
  SERVICES,
} from './scenarios.ts';

export interface Asker {
  /** Asks one question; '' (just Enter) gives the default. INIT_ABORTED when input ends. */
  ask(question: string, defaultValue?: string): Promise<string>;
  /** A yes/no question. */
  confirm(question: string, defaultYes: boolean): Promise<boolean>;
  close(): void;
}

const aborted = () => new ToxtunnelError('INIT_ABORTED', 'no answer (input ended or Ctrl-C): nothing written');

/** Questions on `input`/`output` through node:readline/promises (line editing on a terminal). */
export function createAsker(input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Asker {
  const rl = createInterface({ input, output });
  // Read lines through the iterator: it buffers answers typed (or piped) ahead of the question.
  const lines = rl[Symbol.asyncIterator]();
  let closed = false;
  rl.on('SIGINT', () => {
    output.write('\n');
    rl.close();
  });
  rl.on('close', () => {
    closed = true;
  });
  const ask = async (question: string, defaultValue?: string): Promise<string> => {
    const prompt = `${question}${defaultValue ? ` [${defaultValue}]` : ''}: `;
    // Piped input may already have ended (readline closed) with answers still buffered.
    if (closed) output.write(prompt);
    else {
      rl.setPrompt(prompt);
      rl.prompt();
    }
    const next = await lines.next();
    if (next.done) throw aborted();
    const answer = String(next.value).trim();
    return answer === '' ? (defaultValue ?? '') : answer;
  };
  return {
    ask,
    async confirm(question, defaultYes) {
      for (;;) {
        const answer = (await ask(`${question} ${defaultYes ? '[Y/n]' : '[y/N]'}`)).toLowerCase();
        if (answer === '') return defaultYes;
        if (/^(y|yes)$/.test(answer)) return true;
        if (/^(n|no)$/.test(answer)) return false;
        output.write('  please answer y or n\n');
      }
    },
    close() {
      if (!closed) rl.close();
    },
  };
}

/** Asks until `parse` accepts the answer (its INIT_INVALID message is shown each time). */
async function askValid<T>(asker: Asker, say: (line: string) => void, question: string, defaultValue: string, parse: (answer: string) => T): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const answer = await asker.ask(question, defaultValue);
    try {
      return parse(answer);
    } catch (error) {
      if (!isToxtunnelError(error) || attempt >= 4) throw error;
      say(`  ${error.message}`);
    }
  }
}

/**
 * Fills in what `given` leaves open by asking. Returns complete options (scenario, host,
 * ports, local ports, expiry, keys, output directory).
 */
export async function askInitOptions(asker: Asker, given: Partial<InitOptions>, say: (line: string) => void): Promise<InitOptions & { outDir: string }> {
  const options: Partial<InitOptions> = { ...given };
  if (!options.scenario) {
    say('Scenarios:');
    SCENARIOS.forEach((s, i) => say(`  ${i + 1}) ${s.name.padEnd(10)} ${s.description}`));
    options.scenario = await askValid(asker, say, 'Scenario (number or name)', 'ssh', (a) => {
      const n = /^\d+$/.test(a) ? Number(a) : NaN;
      return Number.isInteger(n) && n >= 1 && n <= SCENARIOS.length ? SCENARIOS[n - 1]!.name : findScenario(a).name;
    });
  }
  const scenario = findScenario(options.scenario);

  if (options.host === undefined) {
    options.host = await askValid(asker, say, 'Host the client may reach, as the server sees it (127.0.0.1 = the server itself)', '127.0.0.1', (a) => {
      parseHost(a);
      return a;
    });
  }

  if (options.port === undefined && options.ports === undefined) {
    if (scenario.choices) {
      const choices = scenario.choices.map((name) => SERVICES.find((s) => s.name === name)!);
      say(scenario.name === 'web' ? 'Which port does the web server use?' : `Which services of the ${scenario.name}? (the client gets exactly these)`);
      choices.forEach((c, i) => say(`  ${i + 1}) ${c.name.padEnd(12)} port ${c.port} (${c.label})`));
      const defaults = scenario.ports.length ? scenario.ports.map((p) => choices.find((c) => c.port === p)?.name ?? String(p)).join(',') : 'https';
      options.ports = await askValid(asker, say, 'Numbers, names or ports, comma-separated ("all" = every port: broad)', defaults, (a) => {
        const items = a.split(',').map((item) => {
          const t = item.trim();
          const n = /^\d+$/.test(t) ? Number(t) : NaN;
          return Number.isInteger(n) && n >= 1 && n <= choices.length ? choices[n - 1]!.name : /^both$/i.test(t) ? choices.map((c) => c.name).join(',') : t;
        });
        const text = items.join(',');
        parsePortList(text);
        return text;
      });
    } else {
      const service = SERVICES.find((s) => s.port === scenario.ports[0]);
      options.ports = await askValid(asker, say, `Port of ${service?.label ?? 'the service'} on that host ("all" = every port: broad)`, String(scenario.ports[0]), (a) => {
        parsePortList(a);
        return a;
      });
    }
  }

  const hostIsPattern = parseHost(options.host).includes('*');
  if (options.localPort === undefined && !hostIsPattern) {
    const list = options.ports !== undefined ? parsePortList(options.ports) : undefined;
    const forwardPorts = options.port !== undefined ? parsePortList(String(options.port), '--port') : list;
    const ports = forwardPorts === undefined || forwardPorts === 'all' ? scenario.ports : forwardPorts;
    const locals: number[] = [];
    for (const port of ports) {
      const label = SERVICES.find((s) => s.port === port)?.label ?? `port ${port}`;
      locals.push(
        await askValid(asker, say, `Local port on the client for ${label} (${port} on the server side)`, String(defaultLocalPort(port)), (a) => {
          const n = /^\d+$/.test(a) ? Number(a) : NaN;
          if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ToxtunnelError('INIT_INVALID', `${JSON.stringify(a)} is not a port (a number 1..65535)`);
          return n;
        }),
      );
    }
    if (locals.length > 0) options.localPort = locals.join(',');
  }

  if (options.expires === undefined) {
    const now = options.now ?? new Date();
    options.expires = scenario.temporary
      ? await askValid(asker, say, 'Access expires after (30m, 8h, 2d, or an ISO time)', DEFAULT_TEMPORARY, (a) => {
          if (parseExpires(a, now) === undefined) throw new ToxtunnelError('INIT_INVALID', 'temporary access needs an expiry (e.g. 8h)');
          return a;
        })
      : await askValid(asker, say, 'Make the access temporary? Expire after (30m, 8h, 2d, an ISO time, or never)', 'never', (a) => {
          parseExpires(a, now);
          return a;
        });
  }

  if (options.clientKey === undefined) {
    say("The client's public key: the first 64 hex characters of `toxtunnel print-id` on the client.");
    options.clientKey = await askValid(asker, say, 'Client public key (Enter = placeholder to fill in later)', '', (a) => (a === '' ? '' : parseClientKey(a)));
  }
  if (options.serverId === undefined) {
    say("The server's Tox ID: all 76 hex characters of `toxtunnel print-id` on the server.");
    options.serverId = await askValid(asker, say, 'Server Tox ID (Enter = placeholder to fill in later)', '', (a) => (a === '' ? '' : parseServerId(a)));
  }
  const outDir = options.outDir ?? (await asker.ask('Directory to write server.yaml, client.yaml and rules.yaml to', '.'));
  return { ...options, scenario: scenario.name, outDir };
}
