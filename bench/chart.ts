// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A small SVG bar chart of the tunnel benchmark (no dependencies): throughput of one and eight
 * streams per path on a log scale (direct TCP is 100x faster than any tunnel), and the RTT
 * p50 per path, also on a log scale.
 */
interface ChartRow {
  path: string;
  one: number;
  eight: number;
  rtt: { p50: number };
}

const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderChart(rows: ChartRow[]): string {
  const width = 760;
  const rowHeight = 46;
  const left = 150;
  const panel = 270;
  const height = 70 + rows.length * rowHeight;
  const logScale = (value: number, min: number, max: number) => (Math.log10(Math.max(value, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min));
  const maxRate = Math.max(...rows.map((r) => Math.max(r.one, r.eight)));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="20" font-weight="bold">throughput MB/s (log): 1 stream / 8 streams</text>`,
    `<text x="${left + panel + 40}" y="20" font-weight="bold">echo RTT p50, ms (log)</text>`,
  ];
  rows.forEach((row, i) => {
    const y = 40 + i * rowHeight;
    out.push(`<text x="${left - 8}" y="${y + 18}" text-anchor="end">${escape(row.path)}</text>`);
    [row.one, row.eight].forEach((rate, j) => {
      const w = Math.max(2, logScale(rate, 0.1, maxRate * 1.2) * panel);
      out.push(`<rect x="${left}" y="${y + j * 16}" width="${w.toFixed(1)}" height="14" fill="${j ? '#6a9fd8' : '#2a5f98'}"/>`);
      out.push(`<text x="${left + w + 4}" y="${y + j * 16 + 11}">${rate.toFixed(1)}</text>`);
    });
    const w = Math.max(2, logScale(row.rtt.p50, 0.01, 100) * (panel - 40));
    out.push(`<rect x="${left + panel + 40}" y="${y + 8}" width="${w.toFixed(1)}" height="14" fill="#d8893a"/>`);
    out.push(`<text x="${left + panel + 44 + w}" y="${y + 19}">${row.rtt.p50.toFixed(3)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
