/** `bitnet tokenize`: token ids of a text, as JSON. */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { DEFAULT_MODEL } from './common.js';
import { openGGUF } from '../formats/gguf.js';
import { tokenizerFromGGUF } from '../tokenizer/gguf.js';

export function register(program: Command): void {
  program.command('tokenize').description('tokenize a text with a model\'s tokenizer: {"tokens":[…]}')
    .argument('[text]', 'the text (or use --file)')
    .option('-m, --model <path>', 'GGUF file (default: the bundled model)')
    .option('--file <f>', 'read the text from a file')
    .option('--no-bos', 'do not add the BOS token')
    .option('--json', 'JSON output (default)')
    .option('--pieces', 'also print each token\'s piece')
    .action((text: string | undefined, o: { model?: string; file?: string; bos: boolean; pieces?: boolean }) => {
      if (o.file && text !== undefined) throw new Error('give either TEXT or --file, not both');
      const input = o.file ? readFileSync(o.file, 'utf8') : text;
      if (input === undefined) throw new Error('nothing to tokenize: give TEXT or --file F');
      const f = openGGUF(o.model ?? DEFAULT_MODEL);
      try {
        const tok = tokenizerFromGGUF((k) => f.get(k));
        const tokens = tok.encode(input, { addBos: o.bos === false ? false : undefined });
        const out: Record<string, unknown> = { tokens };
        if (o.pieces) out.pieces = tokens.map((t) => tok.piece(t));
        process.stdout.write(JSON.stringify(out) + '\n');
      } finally { f.close(); }
    });
}
