/**
 * The FP16 baseline checked against another engine: docs/COST.md's FP16 rows are our own engine's FP16 path, so
 * the ternary advantage is also stated against the faster of ours and llama.cpp's F16 on the same file
 * (measured in one alternating run by scripts/bench-fp16-reference.mjs; `bitnet cost --fp16-reference FILE`).
 */
export interface EngineRun { promptTokPerS: number; decodeTokPerS: number }
export interface Fp16Reference {
  measured: string; machine: string; threads: number; prompt: number; gen: number; command: string; uptime: string;
  reference: string;                               // the other engine, with its version
  shapes: Record<string, {
    f16File: string; ternaryFile: string;
    /** Alternating runs, in order: ours-ternary, ours-fp16, ref-fp16, ref-ternary per round. */
    runs: { 'ours-ternary': EngineRun[]; 'ours-fp16': EngineRun[]; 'ref-fp16': EngineRun[]; 'ref-ternary': EngineRun[] };
  }>;
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
export const medianRun = (rs: EngineRun[]): EngineRun => ({ promptTokPerS: median(rs.map((r) => r.promptTokPerS)), decodeTokPerS: median(rs.map((r) => r.decodeTokPerS)) });

/** Markdown section: both FP16 engines, and ternary (ours) against the faster FP16 of the two, per metric. */
export function renderFp16Reference(ref: Fp16Reference): string[] {
  const lines = ['## The FP16 baseline checked against llama.cpp', ''];
  lines.push(`The FP16 rows above are our engine's FP16 path. Here the same FP16 file runs in ${ref.reference} too, alternating with`);
  lines.push(`ours in one run (${ref.measured}, ${ref.machine}, ${ref.threads} threads, prompt ${ref.prompt} tokens, ${ref.gen} decoded; medians of ` +
             `${Object.values(ref.shapes)[0]?.runs['ours-fp16'].length ?? 0} rounds; load at start: ${ref.uptime}).`);
  lines.push(`Command: \`${ref.command}\``, '');
  lines.push('| shape | engine | form | prompt tok/s | decode tok/s | decode ms/token |', '|---|---|---|---|---|---|');
  const rows: Array<[string, string, string, keyof Fp16Reference['shapes'][string]['runs']]> = [];
  for (const shape of Object.keys(ref.shapes)) {
    rows.push([shape, 'bitnet-ts', 'ternary (TQ2_0 file)', 'ours-ternary'], [shape, 'bitnet-ts', 'fp16', 'ours-fp16'],
              [shape, 'llama.cpp', 'fp16', 'ref-fp16'], [shape, 'llama.cpp', 'ternary (TQ2_0)', 'ref-ternary']);
  }
  for (const [shape, engine, form, k] of rows) {
    const m = medianRun(ref.shapes[shape].runs[k]);
    lines.push(`| ${shape} | ${engine} | ${form} | ${m.promptTokPerS.toFixed(1)} | ${m.decodeTokPerS.toFixed(2)} | ${(1000 / m.decodeTokPerS).toFixed(1)} |`);
  }
  lines.push('', 'Ternary (ours) against each FP16 baseline, and against the faster of the two (the fair figure):', '');
  lines.push('| shape | metric | vs our FP16 | vs llama.cpp F16 | **vs the faster FP16** | llama.cpp ternary vs its F16 |', '|---|---|---|---|---|---|');
  for (const [shape, s] of Object.entries(ref.shapes)) {
    const t = medianRun(s.runs['ours-ternary']), o = medianRun(s.runs['ours-fp16']), l = medianRun(s.runs['ref-fp16']), lt = medianRun(s.runs['ref-ternary']);
    for (const [metric, key] of [['decode speed', 'decodeTokPerS'], ['prompt speed', 'promptTokPerS']] as const) {
      const faster = Math.max(o[key], l[key]);
      lines.push(`| ${shape} | ${metric} | ${(t[key] / o[key]).toFixed(2)}x | ${(t[key] / l[key]).toFixed(2)}x | **${(t[key] / faster).toFixed(2)}x** ` +
                 `(${o[key] >= l[key] ? 'ours' : 'llama.cpp'}) | ${(lt[key] / l[key]).toFixed(2)}x |`);
    }
  }
  for (const [shape, s] of Object.entries(ref.shapes)) {
    const o = medianRun(s.runs['ours-fp16']), l = medianRun(s.runs['ref-fp16']);
    const say = (a: number, b: number) => (a >= b ? `${(a / b).toFixed(2)}x faster` : `${(b / a).toFixed(2)}x slower`);
    lines.push('', `${shape}: our FP16 decodes ${say(o.decodeTokPerS, l.decodeTokPerS)} and reads prompts ${say(o.promptTokPerS, l.promptTokPerS)} than ` +
               'llama.cpp\'s F16, so the bold column, not the FP16/ternary table above, is the ternary speed advantage to quote.');
  }
  lines.push('', 'Weight memory is the same file for both engines (the ratio in the memory table stands); resident memory is the engine\'s.', '');
  return lines;
}
