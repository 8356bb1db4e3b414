/**
 * The one progress bar every command uses: drawn on stderr only when it is a terminal, redrawn in place,
 * with an ETA from the average rate. Lines logged while it is shown (`log`) go above it, never glued to
 * it, and `stop` clears it so the next output starts on a fresh line.
 */

/** Seconds as "45s", "2m05s", "1h02m" (rounded to whole seconds first, so never "2m60s"). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface BarStream { isTTY?: boolean; columns?: number; write(s: string): boolean }

export interface ProgressBar {
  update(done: number, total: number, fields?: Record<string, string | number>): void;
  /** A line of text printed above the bar (the bar is redrawn under it). */
  log(line: string): void;
  stop(): void;
}

/**
 * `label |████░░░░| done/total  fields…  ETA 2m05s`. `eta: false` leaves the ETA out. Off a terminal
 * the bar draws nothing and `log` writes plain lines.
 */
export function progressBar(label: string, opts: { eta?: boolean; stream?: BarStream; now?: () => number } = {}): ProgressBar {
  const stream: BarStream = opts.stream ?? process.stderr;
  const now = opts.now ?? (() => performance.now());
  if (!stream.isTTY) return { update() {}, log: (line) => { stream.write(`${line}\n`); }, stop() {} };
  let shown = '', t0 = 0, startDone = 0;
  const draw = (text: string) => { stream.write(`\r${text}\x1b[K`); shown = text; };
  return {
    update(done, total, fields = {}) {
      if (!shown) { t0 = now(); startDone = done; }
      const width = 24;
      const frac = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
      const full = Math.round(frac * width);
      const rate = (done - startDone) / Math.max(1e-9, (now() - t0) / 1000);
      const eta = opts.eta === false ? '' : `  ETA ${done >= total ? '0s' : rate > 0 ? formatDuration((total - done) / rate) : '?'}`;
      const extra = Object.entries(fields).map(([k, v]) => `  ${k} ${v}`).join('');
      let text = `${label} |${'█'.repeat(full)}${'░'.repeat(width - full)}| ${done}/${total}${extra}${eta}`;
      if (stream.columns && text.length >= stream.columns) text = text.slice(0, stream.columns - 1);
      draw(text);
    },
    log(line) {
      stream.write(`\r\x1b[K${line}\n`);
      if (shown) draw(shown);
    },
    stop() {
      if (shown) stream.write('\r\x1b[K');
      shown = '';
    },
  };
}
