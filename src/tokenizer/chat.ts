/**
 * Chat prompts: the model's `tokenizer.chat_template` (Jinja, rendered by @huggingface/jinja), or,
 * when the model has none, a plain fallback:
 *   "System: …\n\nUser: …\n\nAssistant: …\n\nUser: …\n\nAssistant:"
 * (the stop string "\n\nUser:" is then added so the model does not write the user's turn).
 */
import { Template } from '@huggingface/jinja';
import type { Tokenizer } from './types.js';

export interface ChatMessage { role: 'system' | 'user' | 'assistant' | 'tool'; content: string; name?: string; tool_call_id?: string }

/** Whether the model's template renders a role (the fallback template knows system, user, assistant). */
export function templateHasRole(tok: Tokenizer, role: ChatMessage['role']): boolean {
  if (role !== 'tool') return true;
  return tok.chatTemplate !== undefined && /['"]tool['"]/.test(tok.chatTemplate);
}

export const FALLBACK_STOP = '\n\nUser:';

/**
 * The prompt text for a conversation, the stop strings it implies, and whether the tokenizer should still
 * add BOS: templates that write {{ bos_token }} themselves must not get a second one.
 */
export function renderChat(tok: Tokenizer, messages: ChatMessage[]): { prompt: string; extraStops: string[]; addBos: boolean | undefined } {
  if (tok.chatTemplate) {
    const bos = tok.bos !== undefined ? tok.piece(tok.bos) : '';
    let prompt: string;
    try {
      prompt = new Template(tok.chatTemplate).render({
        messages, add_generation_prompt: true, bos_token: bos, eos_token: tok.eos !== undefined ? tok.piece(tok.eos) : '',
      });
    } catch (e) {
      throw new Error(`the model's chat template failed to render: ${(e as Error).message}`);
    }
    return { prompt, extraStops: [], addBos: bos && prompt.startsWith(bos) ? false : undefined };
  }
  const names = { system: 'System', user: 'User', assistant: 'Assistant', tool: 'Tool' } as const;
  const prompt = messages.map((m) => `${names[m.role]}: ${m.content}`).join('\n\n') + '\n\nAssistant:';
  return { prompt, extraStops: [FALLBACK_STOP], addBos: undefined };
}
