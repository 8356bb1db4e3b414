/** `bitnet logits`: raw logits for given token ids, as JSON. */
import type { Command } from 'commander';
import { addModelOptions, openModel, parseTokenList, type ModelCliOptions } from './common.js';

export function register(program: Command): void {
  addModelOptions(program.command('logits').description('print the logits after a token sequence: {"tokens":[…],"logits":[[…]]}'))
    .requiredOption('--tokens <ids>', 'comma-separated token ids, e.g. 1,2,3')
    .option('--all', 'logits at every position (default: the last one)')
    .option('--json', 'JSON output (the only format; accepted for clarity)')
    .action(async (o: ModelCliOptions & { tokens: string; all?: boolean }) => {
      const model = await openModel(o);
      try {
        const tokens = parseTokenList(o.tokens, model.config.vocabSize);
        if (tokens.length > model.config.contextLength) {
          throw new Error(`--tokens: ${tokens.length} tokens do not fit the model's context of ${model.config.contextLength}`);
        }
        const session = model.createSession({ contextLength: Math.max(tokens.length, 1) });
        const rows: number[][] = [];
        const last = session.evaluate(tokens, o.all ? { onLogits: (_, l) => rows.push(Array.from(l)) } : {});
        if (!o.all) rows.push(Array.from(last));
        process.stdout.write(JSON.stringify({ tokens, logits: rows }) + '\n');
      } finally { model.dispose(); }
    });
}
