import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRESETS } from '../src/train/presets.js';
import { train, loadCheckpoint, prepareData } from '../src/train/trainer.js';
import { exportCheckpoint, exportCheckpointHF } from '../src/train/export.js';
import { loadModel, modelFromWeights } from '../src/model/index.js';
import { loadHFDirectory } from '../src/model/hf-model.js';
import { openSafetensors } from '../src/formats/safetensors.js';
import { scheduleAt } from '../src/train/optim.js';
import { lossLogSVG, readLossLog } from '../src/train/svg.js';

const data = new URL('../../test/fixtures/kjv-sample.txt', import.meta.url).pathname;
const cfg = { ...PRESETS.tiny, steps: 12, evalEvery: 4, checkpointEvery: 4 };

test('resume continues exactly: same loss curve as an uninterrupted run', async () => {
  const a = mkdtempSync(join(tmpdir(), 'train-a-')), b = mkdtempSync(join(tmpdir(), 'train-b-'));
  const full = await train({ config: cfg, dataFile: data, outDir: a });
  const first = await train({ config: cfg, dataFile: data, outDir: b, stopAfter: 5 });
  assert.equal(first.meta.step, 5);
  const rest = await train({ config: cfg, dataFile: data, outDir: b, resume: true });
  assert.equal(rest.meta.step, 12);
  assert.deepEqual(rest.meta.log.map((r) => r.loss), full.meta.log.map((r) => r.loss));
  assert.equal(rest.finalValLoss, full.finalValLoss);
  assert.ok(existsSync(join(b, 'loss.svg')) && readFileSync(join(b, 'loss.svg'), 'utf8').includes('<svg'));
  // log.json keeps the curve's data beside it, the whole run's (resume included): loss.svg is redrawn from it
  const lossLog = readLossLog(b);
  assert.deepEqual(lossLog.log.map((r) => r.loss), full.meta.log.map((r) => r.loss));
  assert.equal(lossLog.config.steps, 12);
  assert.equal(readFileSync(join(b, 'loss.svg'), 'utf8'), lossLogSVG(lossLog));
  assert.ok(full.meta.log[full.meta.log.length - 1].loss < full.meta.log[0].loss, 'loss goes down');
  await assert.rejects(() => train({ config: cfg, dataFile: data, outDir: a }), /already holds a checkpoint/);
  assert.ok(full.perf.tokensPerSec > 0 && full.perf.gemmGflops > 0 && full.perf.peakGemmGflops > 0);
});

const cases = [['ternary', 'tq2_0'], ['ternary', 'i2_s'], ['binary', 'i2_s'], ['fp', 'i2_s'], ['ternary', 'hf'], ['binary', 'hf']] as const;
for (const [precision, ternaryType] of cases) {
  test(`exported model gives the trainer's validation loss in the engine (${precision}, ${ternaryType})`, async () => {
    const out = mkdtempSync(join(tmpdir(), `train-x-${precision}-`));
    // TQ2_0 blocks hold 256 weights: its rows must be that wide
    const shape = ternaryType === 'tq2_0' ? { dim: 256, ffnDim: 256, nLayers: 1, nHeads: 4 } : {};
    const c = { ...cfg, ...shape, precision, steps: 6 };
    const res = await train({ config: c, dataFile: data, outDir: out });
    let model;
    if (ternaryType === 'hf') {
      exportCheckpointHF(res.params, res.tokenizer, join(out, 'hf'));
      // transformers' native BitNet layout: its class, packed U8 weights and one weight_scale each
      const hfc = JSON.parse(readFileSync(join(out, 'hf', 'config.json'), 'utf8'));
      assert.deepEqual([hfc.model_type, hfc.architectures[0], hfc.hidden_act], ['bitnet', 'BitNetForCausalLM', 'silu']);
      const st = openSafetensors(join(out, 'hf', 'model.safetensors'));
      try {
        assert.equal(st.tensor('model.layers.0.mlp.down_proj.weight')?.dtype, 'U8');
        assert.deepEqual(st.tensor('model.layers.0.mlp.down_proj.weight_scale')?.shape, [1]);
      } finally { st.close(); }
      const { weights, tokenizer } = loadHFDirectory(join(out, 'hf'));
      model = await modelFromWeights(weights, tokenizer, { backend: 'reference' });
    } else {
      exportCheckpoint(res.params, res.tokenizer, join(out, 'model.gguf'), ternaryType, 'f32');
      model = await loadModel(join(out, 'model.gguf'), { backend: 'reference' });
    }
    // the trained BPE survives the GGUF round trip: same ids, same text back
    const sample = 'In the beginning God created the heaven and the earth. Zebulun’s 12 “ships”!';
    assert.deepEqual(model.tokenizer.encode(sample, { addBos: false }), res.tokenizer.encode(sample, { addBos: false }));
    assert.equal(model.tokenizer.decode(res.tokenizer.encode(sample, { addBos: false })), sample);
    const { data: ds } = prepareData(data, out, loadCheckpoint(out).meta.config, () => {});
    // same windows as validationLoss: consecutive T-token windows, next-token targets
    const T = c.seqLen, nWin = Math.min(c.evalBatches * c.batch, Math.floor((ds.val.length - 1) / T));
    let nll = 0, n = 0;
    for (let w = 0; w < nWin; w++) {
      const win = Array.from(ds.val.subarray(w * T, w * T + T + 1));
      const s = model.createSession({ contextLength: T });
      s.evaluate(win.slice(0, T), { onLogits: (i, l) => {
        let max = -Infinity; for (const v of l) max = Math.max(max, v);
        let sum = 0; for (const v of l) sum += Math.exp(v - max);
        nll += Math.log(sum) + max - l[win[i + 1]]; n++;
      } });
      s.dispose();
    }
    const engineLoss = nll / n;
    assert.ok(Math.abs(engineLoss - res.finalValLoss) < 2e-3, `engine ${engineLoss} vs trainer ${res.finalValLoss}`);
    model.dispose();
  });
}

test('two-stage schedule: warmup, high LR then lower at the midpoint, weight decay 0.1 then 0', () => {
  const s = { steps: 100, warmup: 10, lr1: 1e-3, lr2: 5e-4, wd1: 0.1, wd2: 0 };
  assert.ok(scheduleAt(s, 0).lr < scheduleAt(s, 9).lr);
  assert.equal(scheduleAt(s, 9).lr, 1e-3);
  assert.equal(scheduleAt(s, 49).wd, 0.1);
  assert.equal(scheduleAt(s, 50).wd, 0);
  assert.equal(scheduleAt(s, 50).lr, 5e-4);
  assert.ok(scheduleAt(s, 49).lr > scheduleAt(s, 50).lr);
});
