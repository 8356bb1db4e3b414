/**
 * `bitnet chat`: an interactive conversation over the model's chat template (or the documented fallback),
 * with history, streamed replies, /reset, and Ctrl-C to stop a reply. The KV cache of the conversation so
 * far is kept between turns (one Session; generate() reuses its common prefix).
 */
import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { addModelOptions, addSamplingOptions, openModel } from './common.js';
import type { RunOptions } from './run.js';
import { renderChat, type ChatMessage } from '../tokenizer/chat.js';

const HELP = 'commands: /reset (forget the conversation), /exit (or Ctrl-D); Ctrl-C stops a reply';

export function register(program: Command): void {
  const cmd = program.command('chat')
    .description('chat with a model interactively: its chat template, history, streamed replies, /reset, Ctrl-C stops a reply')
    .option('--system <text>', 'a system message that starts the conversation (kept by /reset)');
  addSamplingOptions(addModelOptions(cmd)).action(async (o: RunOptions & { system?: string }) => {
    const model = await openModel(o);
    const tok = model.tokenizer;
    const tty = process.stdin.isTTY === true;
    const session = model.createSession();
    const start: ChatMessage[] = o.system ? [{ role: 'system', content: o.system }] : [];
    let history: ChatMessage[] = [...start];
    let reply: AbortController | undefined;
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: '> ' });
    // Ctrl-C: stops the reply being generated; at the prompt it only says how to leave
    const interrupt = () => {
      if (reply) { reply.abort(); return; }
      process.stdout.write(`\n(${HELP})\n`);
      if (tty) rl.prompt();
    };
    rl.on('SIGINT', interrupt);
    process.on('SIGINT', interrupt);
    if (tty) { process.stderr.write(`bitnet chat (${HELP})\n`); rl.prompt(); }
    try {
      for await (const line of rl) {
        const text = line.trim();
        if (text === '/exit' || text === '/quit' || text === '/bye') break;
        if (text === '/reset') { history = [...start]; session.truncate(0); process.stdout.write('(conversation cleared)\n'); }
        else if (text === '/help') process.stdout.write(`${HELP}\n`);
        else if (text !== '') await answer(text);
        if (tty) rl.prompt();
      }
    } finally {
      process.removeListener('SIGINT', interrupt);
      rl.close();
      session.dispose();
      model.dispose();
    }

    async function answer(text: string): Promise<void> {
      history.push({ role: 'user', content: text });
      // the oldest turns go first when the conversation outgrows the context (the system message stays)
      let ids: number[];
      for (;;) {
        const r = renderChat(tok, history);
        ids = tok.encode(r.prompt, { addBos: r.addBos });
        if (ids.length + o.maxTokens <= session.contextLength || history.length <= start.length + 1) {
          reply = new AbortController();
          try {
            if (ids.length + o.maxTokens > session.contextLength) {
              throw new Error(`the message (${ids.length} tokens) + --max-tokens ${o.maxTokens} exceed the context length ${session.contextLength}`);
            }
            const it = model.generate(ids, {
              session, maxTokens: o.maxTokens, temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP,
              repeatPenalty: o.repeatPenalty, repeatLastN: o.repeatLastN, seed: o.seed, stop: [...(o.stop ?? []), ...r.extraStops],
              signal: reply.signal,
            });
            let g = await it.next();
            while (!g.done) { process.stdout.write(g.value.text); g = await it.next(); }
            process.stdout.write(g.value.finishReason === 'abort' ? ' [stopped]\n' : '\n');
            history.push({ role: 'assistant', content: g.value.text.trim() });
          } catch (e) {
            history.pop();
            process.stdout.write(`(error: ${(e as Error).message})\n`);
          } finally {
            reply = undefined;
          }
          return;
        }
        history.splice(start.length, 2);
      }
    }
  });
}
