/** `bitnet info`: architecture, parameters, tensor types, bytes per weight. */
import type { Command } from 'commander';
import { addModelOptions, openModel, type ModelCliOptions } from './common.js';

export function register(program: Command): void {
  addModelOptions(program.command('info').description('show a model\'s architecture, parameter count, tensor types and bytes per weight'))
    .option('--json', 'machine-readable output')
    .action(async (o: ModelCliOptions & { json?: boolean }) => {
      const model = await openModel({ ...o, backend: 'reference' });
      try {
        const c = model.config, i = model.info;
        const out = {
          architecture: c.arch, parameters: i.parameters, ternaryParameters: i.ternaryParameters,
          config: c, tensorTypes: i.tensorTypes, weightBytes: i.weightBytes, fileBytes: i.fileBytes,
          bytesPerWeight: i.fileBytes ? i.fileBytes / i.parameters : undefined, bitsPerTernaryWeight: i.bitsPerTernaryWeight,
          tokenizer: { kind: model.tokenizer.kind, vocabSize: model.tokenizer.vocabSize, bos: model.tokenizer.bos, eos: model.tokenizer.eos },
        };
        if (o.json) { console.log(JSON.stringify(out, null, 2)); return; }
        const mb = (b?: number) => (b === undefined ? '-' : `${(b / 1e6).toFixed(2)} MB`);
        console.log(`architecture   ${c.arch}`);
        console.log(`parameters     ${i.parameters.toLocaleString()} (${i.ternaryParameters.toLocaleString()} ternary)`);
        console.log(`shape          dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} kv, head ${c.headDim}), ffn ${c.ffnDim}, vocab ${c.vocabSize}, ctx ${c.contextLength}`);
        console.log(`ffn / rope     ${c.activation}-gated${c.subNorms ? ', sub-norms' : ''}; rope ${c.ropeNeox ? 'neox' : 'normal'} θ=${c.ropeTheta}`);
        console.log(`tensor types   ${Object.entries(i.tensorTypes).map(([t, n]) => `${t}×${n}`).join(', ')}`);
        console.log(`file           ${mb(i.fileBytes)} = ${out.bytesPerWeight?.toFixed(3) ?? '-'} bytes/weight overall; ternary ${i.bitsPerTernaryWeight?.toFixed(3) ?? '-'} bits/weight`);
        console.log(`tokenizer      ${model.tokenizer.kind}, ${model.tokenizer.vocabSize} tokens`);
      } finally { model.dispose(); }
    });
}
