/**
 * Prometheus metrics in the text exposition format (version 0.0.4), without a client library:
 * counters and histograms with labels, gauges read when scraped. The server's set is in
 * `serverMetrics()`; docs/SERVING.md lists them.
 */

type Labels = Record<string, string>;

const labelText = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
const fmt = (x: number) => (Number.isFinite(x) ? String(x) : x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN');

export class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    const v = this.values.get(k);
    if (v) v.value += by; else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number { return this.values.get(labelText(labels))?.value ?? 0; }
  render(): string[] {
    const rows = [...this.values.values()].map((v) => `${this.name}${labelText(v.labels)} ${fmt(v.value)}`);
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`, ...(rows.length ? rows : [`${this.name} 0`])];
  }
}

export class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(): string[] { return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${fmt(this.read())}`]; }
}

export class Histogram {
  private readonly counts: Float64Array; // (buckets.length) observations ≤ each upper bound (not cumulative)
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length);
  }
  observe(x: number): void {
    this.sum += x; this.count++;
    const i = this.buckets.findIndex((b) => x <= b);
    if (i >= 0) this.counts[i]++;
  }
  get observations(): number { return this.count; }
  render(): string[] {
    const rows: string[] = [];
    let acc = 0;
    this.buckets.forEach((b, i) => { acc += this.counts[i]; rows.push(`${this.name}_bucket{le="${fmt(b)}"} ${acc}`); });
    rows.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${fmt(this.sum)}`, `${this.name}_count ${this.count}`);
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`, ...rows];
  }
}

/** Buckets in seconds: 1-2-5 steps from 1 ms to 60 s. */
const SECONDS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 60];

export function serverMetrics(load: () => { active: number; waiting: number }) {
  return {
    requests: new Counter('bitnet_requests_total', 'HTTP requests answered, by endpoint and status code'),
    promptTokens: new Counter('bitnet_prompt_tokens_total', 'prompt tokens of completed generations'),
    completionTokens: new Counter('bitnet_completion_tokens_total', 'tokens generated'),
    errors: new Counter('bitnet_errors_total', 'failed requests, by kind (the OpenAI error code or type; client_disconnected)'),
    queue: new Gauge('bitnet_queue_depth', 'requests waiting for a decoding slot', () => load().waiting),
    active: new Gauge('bitnet_active_sequences', 'sequences being prefilled or decoded', () => load().active),
    ttft: new Histogram('bitnet_time_to_first_token_seconds', 'from the request being accepted to its first sampled token', SECONDS),
    perToken: new Histogram('bitnet_time_per_output_token_seconds', 'time between successive sampled tokens of one sequence', SECONDS),
    duration: new Histogram('bitnet_request_duration_seconds', 'from the request being accepted to its last token', SECONDS),
  };
}

export type ServerMetrics = ReturnType<typeof serverMetrics>;

export function renderMetrics(m: ServerMetrics): string {
  return Object.values(m).flatMap((x) => x.render()).join('\n') + '\n';
}
