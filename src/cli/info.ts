/** `bitnet info`: architecture, parameters, tensor types, bytes per weight. */
import type { Command } from 'commander';
import { addModelOptions, openModel, type ModelCliOptions } from './common.js';
import { checkPlausibility, IMPLAUSIBLE_FRACTION } from '../eval/plausibility.js';

export function register(program: Command): void {
  addModelOptions(program.command('info').description('show a model\'s architecture, parameter count, tensor types and bytes per weight'))
    .option('--json', 'machine-readable output')
    .option('--check', `score a built-in English text: a mean loss at or above ${IMPLAUSIBLE_FRACTION} × ln(vocab) means ` +
      'the weights were read wrong (e.g. an I2_S file of another bitnet.cpp build: try the other --i2s-layout values); ' +
      'exit status 1 then. Needs a trained model')
    .action(async (o: ModelCliOptions & { json?: boolean; check?: boolean }) => {
      // without --check nothing is computed: the reference backend prepares nothing
      const model = await openModel(o.check ? o : { ...o, backend: 'reference' });
      try {
        const c = model.config, i = model.info;
        const out = {
          architecture: c.arch, parameters: i.parameters, ternaryParameters: i.ternaryParameters,
          config: c, tensorTypes: i.tensorTypes, weightBytes: i.weightBytes, fileBytes: i.fileBytes,
          bytesPerWeight: i.fileBytes ? i.fileBytes / i.parameters : undefined, bitsPerTernaryWeight: i.bitsPerTernaryWeight,
          tokenizer: { kind: model.tokenizer.kind, vocabSize: model.tokenizer.vocabSize, bos: model.tokenizer.bos, eos: model.tokenizer.eos },
          i2sLayout: i.tensorTypes.I2_S ? o.i2sLayout : undefined,
          check: o.check ? checkPlausibility(model) : undefined,
        };
        if (out.check && !out.check.plausible) process.exitCode = 1;
        if (o.json) { console.log(JSON.stringify(out, null, 2)); return; }
        const mb = (b?: number) => (b === undefined ? '-' : `${(b / 1e6).toFixed(2)} MB`);
        console.log(`architecture   ${c.arch}`);
        console.log(`parameters     ${i.parameters.toLocaleString()} (${i.ternaryParameters.toLocaleString()} ternary)`);
        console.log(`shape          dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} kv, head ${c.headDim}), ffn ${c.ffnDim}, vocab ${c.vocabSize}, ctx ${c.contextLength}`);
        console.log(`ffn / rope     ${c.activation}-gated${c.subNorms ? ', sub-norms' : ''}; rope ${c.ropeNeox ? 'neox' : 'normal'} θ=${c.ropeTheta}`);
        console.log(`tensor types   ${Object.entries(i.tensorTypes).map(([t, n]) => `${t}×${n}`).join(', ')}`);
        console.log(`file           ${mb(i.fileBytes)} = ${out.bytesPerWeight?.toFixed(3) ?? '-'} bytes/weight overall; ternary ${i.bitsPerTernaryWeight?.toFixed(3) ?? '-'} bits/weight`);
        console.log(`tokenizer      ${model.tokenizer.kind}, ${model.tokenizer.vocabSize} tokens`);
        if (out.i2sLayout) console.log(`I2_S layout    ${out.i2sLayout} (as --i2s-layout says: a file does not record it; --check tests it)`);
        if (out.check) {
          const { lossNats, uniformNats, plausible } = out.check;
          console.log(`check          mean loss ${lossNats.toFixed(3)} nats/token on a built-in English text (uniform guess ` +
            `${uniformNats.toFixed(3)}): ${plausible ? 'plausible' : 'IMPLAUSIBLE: the weights look read wrong' +
            (out.i2sLayout ? '; try another --i2s-layout (x86, arm, x86-rows)' : ' (or the model is untrained)')}`);
        }
      } finally { model.dispose(); }
    });
}
