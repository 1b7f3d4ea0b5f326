// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * An SVG chart of the tunnel benchmark's medians (no dependencies): one row per figure, the
 * measured value as a bar on a log scale, the target as a vertical mark, green when the
 * target is met. Figures the run did not measure are left out.
 */
type Summary = Record<string, Record<string, { median: number; runs: number[] }>>;

interface Line {
  label: string;
  path: string;
  name: string;
  unit: string;
  target: number;
  /** true: lower is better (a cost). */
  lower?: boolean;
}

const LINES: Line[] = [
  { label: 'first 4 MB, fresh tunnel', path: 'toxtunnel', name: 'first4MBps', unit: 'MB/s', target: 15 },
  { label: 'one stream, cold', path: 'toxtunnel', name: 'oneColdMBps', unit: 'MB/s', target: 40 },
  { label: 'one stream, warm', path: 'toxtunnel', name: 'oneMBps', unit: 'MB/s', target: 40 },
  { label: '8 streams together', path: 'toxtunnel', name: 'eightMBps', unit: 'MB/s', target: 60 },
  { label: '2 streams, share', path: 'toxtunnel', name: 'twoShare', unit: ':1', target: 2, lower: true },
  { label: '1 % loss + 10 ms', path: 'lossy 1 %', name: 'oneColdMBps', unit: 'MB/s', target: 5 },
  { label: '5 % loss + 10 ms', path: 'lossy 5 %', name: 'oneColdMBps', unit: 'MB/s', target: 1 },
  { label: 'TCP relay only, tox-bootstrapd', path: 'toxtunnel (relay)', name: 'oneColdMBps', unit: 'MB/s', target: 8 },
  { label: 'TCP relay only, own relay', path: 'toxtunnel (own relay)', name: 'oneColdMBps', unit: 'MB/s', target: 8 },
  { label: '15 friends, echoed', path: '15 friends', name: 'togetherMBps', unit: 'MB/s', target: 40 },
  { label: 'CPU per MB, both ends', path: 'toxtunnel', name: 'cpuMsPerMB', unit: 'ms', target: 20, lower: true },
  { label: 'echo RTT p50', path: 'toxtunnel', name: 'rttP50Ms', unit: 'ms', target: 1, lower: true },
  { label: 'echo p99 beside upload', path: 'toxtunnel', name: 'besideP99Ms', unit: 'ms', target: 20, lower: true },
  { label: 'idle CPU, server', path: 'toxtunnel', name: 'idleCpuServerPct', unit: '%', target: 0.2, lower: true },
  { label: 'idle CPU, client', path: 'toxtunnel', name: 'idleCpuClientPct', unit: '%', target: 0.2, lower: true },
  { label: 'RSS idle, server', path: 'toxtunnel', name: 'rssIdleServerMiB', unit: 'MiB', target: 50, lower: true },
  { label: 'RSS idle, client', path: 'toxtunnel', name: 'rssIdleClientMiB', unit: 'MiB', target: 50, lower: true },
];

const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const show = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2));

export function renderChart(summary: Summary): string {
  const lines = LINES.filter((l) => Number.isFinite(summary[l.path]?.[l.name]?.median));
  const width = 760;
  const left = 190;
  const panel = 420;
  const rowHeight = 24;
  const height = 60 + lines.length * rowHeight;
  // Each row on its own log scale: the target sits in the middle, two decades either side.
  const x = (value: number, target: number) => {
    const r = Math.log10(Math.max(value, target / 100) / target);
    return left + ((Math.min(r, 2) + 2) / 4) * panel;
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-weight="bold">medians of fresh runs (log scale, target mark in the middle; green: target met)</text>`,
  ];
  lines.forEach((line, i) => {
    const y = 36 + i * rowHeight;
    const value = summary[line.path]![line.name]!.median;
    const met = line.lower ? value <= line.target : value >= line.target;
    const w = Math.max(2, x(value, line.target) - left);
    out.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${escape(line.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 2}" width="${w.toFixed(1)}" height="14" fill="${met ? '#3a9a4a' : '#c8553d'}"/>`);
    out.push(`<line x1="${left + panel / 2}" x2="${left + panel / 2}" y1="${y}" y2="${y + 18}" stroke="black" stroke-width="2"/>`);
    out.push(`<text x="${left + panel + 8}" y="${y + 13}">${show(value)} ${escape(line.unit)} (target ${line.lower ? '≤' : '≥'} ${show(line.target)})</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
