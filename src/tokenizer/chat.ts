/**
 * Chat prompts: the model's `tokenizer.chat_template` (Jinja, rendered by @huggingface/jinja), or,
 * when the model has none, a plain fallback:
 *   "System: …\n\nUser: …\n\nAssistant: …\n\nUser: …\n\nAssistant:"
 * (the stop string "\n\nUser:" is then added so the model does not write the user's turn).
 */
import type { Tokenizer } from './types.js';
import { renderTemplate, TemplateLimitError } from './template-limits.js';

export interface ChatMessage { role: 'system' | 'user' | 'assistant' | 'tool'; content: string; name?: string; tool_call_id?: string }

/** Whether the model's template renders a role (the fallback template knows system, user, assistant). */
export function templateHasRole(tok: Tokenizer, role: ChatMessage['role']): boolean {
  if (role !== 'tool') return true;
  return tok.chatTemplate !== undefined && /['"]tool['"]/.test(tok.chatTemplate);
}

export const FALLBACK_STOP = '\n\nUser:';

/** Where the messages' own text sits in a rendered prompt: tokenized without special tokens. */
export type LiteralRanges = Array<[start: number, end: number]>;

const sentinel = (i: number) => `\uE000${i}\uE001`;

/**
 * The ranges of each message's content in `prompt`, found by rendering once more with each content
 * replaced by a private-use sentinel; undefined when the template transforms contents (trim, upper, …)
 * so that the two renders do not line up.
 */
function contentRanges(render: (m: ChatMessage[]) => string, messages: ChatMessage[], prompt: string): LiteralRanges | undefined {
  const marked = render(messages.map((m, i) => ({ ...m, content: sentinel(i) })));
  const ranges: LiteralRanges = [];
  let rebuilt = '', from = 0;
  for (const m of marked.matchAll(/\uE000(\d+)\uE001/g)) {
    const content = messages[Number(m[1])]?.content;
    if (content === undefined) return undefined;
    rebuilt += marked.slice(from, m.index);
    ranges.push([rebuilt.length, rebuilt.length + content.length]);
    rebuilt += content;
    from = m.index + m[0].length;
  }
  rebuilt += marked.slice(from);
  return rebuilt === prompt ? ranges : undefined;
}

/**
 * The prompt text for a conversation, the stop strings it implies, and whether the tokenizer should still
 * add BOS: templates that write {{ bos_token }} themselves must not get a second one.
 */
export function renderChat(tok: Tokenizer, messages: ChatMessage[]): {
  prompt: string; extraStops: string[]; addBos: boolean | undefined;
  /** Character ranges of the messages' text: pass as EncodeOptions.literalRanges (undefined: not located). */
  literal: LiteralRanges | undefined;
} {
  if (tok.chatTemplate) {
    const source = tok.chatTemplate;
    const bos = tok.bos !== undefined ? tok.piece(tok.bos) : '';
    const eos = tok.eos !== undefined ? tok.piece(tok.eos) : '';
    const render = (m: ChatMessage[]) => renderTemplate(source, { messages: m, add_generation_prompt: true, bos_token: bos, eos_token: eos });
    let prompt: string, literal: LiteralRanges | undefined;
    try {
      prompt = render(messages);
      literal = contentRanges(render, messages, prompt);
    } catch (e) {
      const why = e instanceof TemplateLimitError ? `exceeded its limits (${e.message})` : `failed to render: ${(e as Error).message}`;
      throw new Error(`the model's chat template ${why}`);
    }
    return { prompt, extraStops: [], addBos: bos && prompt.startsWith(bos) ? false : undefined, literal };
  }
  const names = { system: 'System', user: 'User', assistant: 'Assistant', tool: 'Tool' } as const;
  const literal: LiteralRanges = [];
  let prompt = '';
  messages.forEach((m, i) => {
    prompt += `${i ? '\n\n' : ''}${names[m.role]}: `;
    literal.push([prompt.length, prompt.length + m.content.length]);
    prompt += m.content;
  });
  prompt += '\n\nAssistant:';
  return { prompt, extraStops: [FALLBACK_STOP], addBos: undefined, literal };
}

/** Whether `text` holds the text of a special (control) token that the tokenizer would turn into its id. */
export function hasSpecialText(tok: Tokenizer, text: string): boolean {
  const opts = { addBos: false, addEos: false };
  const a = tok.encode(text, { ...opts, parseSpecial: true }), b = tok.encode(text, { ...opts, parseSpecial: false });
  return a.length !== b.length || a.some((t, i) => t !== b[i]);
}
