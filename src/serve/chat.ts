/**
 * Chat prompts: the model's `tokenizer.chat_template` (Jinja, rendered by @huggingface/jinja), or,
 * when the model has none, a plain fallback:
 *   "System: …\n\nUser: …\n\nAssistant: …\n\nUser: …\n\nAssistant:"
 * (the stop string "\n\nUser:" is then added so the model does not write the user's turn).
 */
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from '../tokenizer/types.js';

export interface ChatMessage { role: 'system' | 'user' | 'assistant'; content: string }

export const FALLBACK_STOP = '\n\nUser:';

export function renderChat(tok: Tokenizer, messages: ChatMessage[]): { prompt: string; extraStops: string[] } {
  if (tok.chatTemplate) {
    const t = new Template(tok.chatTemplate);
    const prompt = t.render({
      messages, add_generation_prompt: true,
      bos_token: tok.bos !== undefined ? tok.piece(tok.bos) : '', eos_token: tok.eos !== undefined ? tok.piece(tok.eos) : '',
    });
    return { prompt, extraStops: [] };
  }
  const names = { system: 'System', user: 'User', assistant: 'Assistant' } as const;
  const prompt = messages.map((m) => `${names[m.role]}: ${m.content}`).join('\n\n') + '\n\nAssistant:';
  return { prompt, extraStops: [FALLBACK_STOP] };
}
