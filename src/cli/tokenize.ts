/** `bitnet tokenize`: token ids of a text, as JSON. */
import type { Command } from 'commander';
import { DEFAULT_MODEL, readPrompt } from './common.js';
import { readTokenizer } from '../model/index.js';

export function register(program: Command): void {
  program.command('tokenize').description('tokenize a text with a model\'s tokenizer: {"tokens":[…]}')
    .argument('[text]', 'the text (or --file, or stdin when it is not a terminal)')
    .option('-m, --model <path>', 'GGUF file or Hugging Face model directory (default: the bundled model)')
    .option('--file <f>', 'read the text from a file')
    .option('--no-bos', 'do not add the BOS token')
    .option('--json', 'JSON output (default)')
    .option('--pieces', 'also print each token\'s piece')
    .action(async (text: string | undefined, o: { model?: string; file?: string; bos: boolean; pieces?: boolean }) => {
      const input = await readPrompt(text, o.file, '');
      if (input === '' && text === undefined && o.file === undefined) throw new Error('nothing to tokenize: give TEXT, --file F or pipe it on stdin');
      const tok = readTokenizer(o.model ?? DEFAULT_MODEL);
      const tokens = tok.encode(input, { addBos: o.bos === false ? false : undefined });
      const out: Record<string, unknown> = { tokens };
      if (o.pieces) out.pieces = tokens.map((t) => tok.piece(t));
      process.stdout.write(JSON.stringify(out) + '\n');
    });
}
