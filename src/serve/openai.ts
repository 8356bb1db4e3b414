/**
 * The OpenAI request and response shapes of /v1/completions and /v1/chat/completions, as the API
 * reference (openai/openai-openapi) defines each field: parsing a request body into one normalized
 * CompletionRequest (every field checked, every unsupported one refused with a 400 naming it), and
 * the logprobs objects of both endpoints. HTTP plumbing lives in server.ts.
 */
import type { Tokenizer } from '../tokenizer/types.js';
import type { SamplingOptions } from '../model/sampling.js';
import type { TokenLogprob } from '../model/generate.js';
import { hasSpecialText, renderChat, templateHasRole, type ChatMessage } from '../tokenizer/chat.js';
import { maxPromptChars } from './guard.js';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly type = 'invalid_request_error', readonly param: string | null = null,
              readonly code: string | null = null, readonly headers: Record<string, string> = {}) { super(message); }
}

type Body = Record<string, unknown>;

/** A request as the scheduler needs it: n choices of one prompt. */
export interface CompletionRequest {
  chat: boolean;
  prompt: number[];
  n: number;
  maxTokens: number;
  stream: boolean;
  includeUsage: boolean;               // stream_options.include_usage
  /** chat: top_logprobs when logprobs is true; completions: logprobs (0..5); undefined = no logprobs */
  logprobs: number | undefined;
  sampling: SamplingOptions & { stop: string[] };
}

export interface ParseLimits {
  modelNames: readonly string[];       // accepted `model` values (the served id and 'default')
  maxPromptTokens: number;
  maxTokensLimit: number;
  contextLength: number;
  defaultMaxTokens: number;
}

const bad = (param: string, message: string, code: string | null = null) => new HttpError(400, message, 'invalid_request_error', param, code);

/** Fields accepted (and honoured) by each endpoint; anything else is refused by name. */
const COMMON = ['model', 'stream', 'stream_options', 'max_tokens', 'temperature', 'top_p', 'n', 'stop', 'seed', 'presence_penalty',
  'frequency_penalty', 'logit_bias', 'logprobs', 'user', 'top_k'];
const CHAT_FIELDS = new Set([...COMMON, 'messages', 'max_completion_tokens', 'top_logprobs', 'metadata', 'store', 'service_tier',
  'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'modalities']);
const COMPLETION_FIELDS = new Set([...COMMON, 'prompt', 'echo', 'suffix', 'best_of']);
/** Known OpenAI fields this server does not implement: refused with a reason (not "unrecognized"). */
const NOT_IMPLEMENTED: Record<string, string> = {
  tools: 'tool calling is not implemented', tool_choice: 'tool calling is not implemented', functions: 'function calling is not implemented',
  function_call: 'function calling is not implemented', response_format: 'structured output (json_object, json_schema) is not implemented',
  echo: 'echo is not implemented', suffix: 'suffix (insertion) is not implemented', best_of: 'best_of > n is not implemented',
  audio: 'audio output is not implemented', modalities: 'only the "text" modality is supported', prediction: 'predicted outputs are not implemented',
  web_search_options: 'web search is not implemented', reasoning_effort: 'this model has no reasoning effort setting',
  verbosity: 'verbosity is not implemented',
};

// own keys only: a body's "__proto__" or "constructor" is an unknown field, not Object.prototype's
const notImplementedWhy = (key: string): string | undefined => (Object.hasOwn(NOT_IMPLEMENTED, key) ? NOT_IMPLEMENTED[key] : undefined);

function notImplemented(key: string): HttpError {
  return bad(key, `'${key}' is not supported by this server: ${notImplementedWhy(key) ?? 'unrecognized request argument'}`,
    'unsupported_parameter');
}

function optNumber(b: Body, key: string, min: number, max: number, int = false): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
    throw bad(key, `'${key}' must be ${int ? 'an integer' : 'a number'} between ${min} and ${max}`);
  }
  return v;
}

function optBool(b: Body, key: string): boolean | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(key, `'${key}' must be a boolean`);
  return v;
}

/** Refuses unknown fields, and known ones set to something other than their "off" value. */
function checkFields(b: Body, chat: boolean): void {
  const allowed = chat ? CHAT_FIELDS : COMPLETION_FIELDS;
  for (const [key, v] of Object.entries(b)) {
    if (!allowed.has(key)) {
      if (v === undefined || v === null) continue;
      if (notImplementedWhy(key) !== undefined) throw notImplemented(key);
      throw bad(key, `Unrecognized request argument supplied: ${key}`, 'unknown_parameter');
    }
  }
  const off = (key: string, isOff: (v: unknown) => boolean) => { const v = b[key]; if (v !== undefined && v !== null && !isOff(v)) throw notImplemented(key); };
  off('tools', (v) => Array.isArray(v) && v.length === 0);
  off('tool_choice', (v) => v === 'none');
  off('response_format', (v) => typeof v === 'object' && (v as Body).type === 'text');
  off('modalities', (v) => Array.isArray(v) && v.every((m) => m === 'text'));
  off('echo', (v) => v === false);
  off('suffix', (v) => v === '');
  off('best_of', (v) => v === 1 || v === (b.n ?? 1));
}

/** model: the served id or 'default'; anything else is 404 model_not_found, as OpenAI answers. */
export function checkModel(model: unknown, names: readonly string[]): void {
  if (model === undefined || model === null) return; // lenient: curl users often leave it out
  if (typeof model !== 'string') throw bad('model', "'model' must be a string");
  if (!names.includes(model)) {
    throw new HttpError(404, `The model '${model}' does not exist (this server serves ${names.map((n) => `'${n}'`).join(' and ')})`,
      'invalid_request_error', 'model', 'model_not_found');
  }
}

/** A message's content: a string, or an array of text parts (other part types are refused). */
function messageText(content: unknown, where: string): string | undefined {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return undefined;
  if (!Array.isArray(content)) throw bad(where, `${where} must be a string or an array of content parts`);
  return content.map((p, j) => {
    const part = p as Body;
    const at = `${where}[${j}]`;
    if (!part || typeof part !== 'object') throw bad(at, `${at} must be a content part object`);
    if ((part.type === 'text' || part.type === 'refusal') && typeof (part.text ?? part.refusal) === 'string') return (part.text ?? part.refusal) as string;
    if (['image_url', 'input_audio', 'file', 'input_image'].includes(part.type as string)) {
      throw bad(at, `${at} is of type '${part.type}': this model reads text only (give text parts)`, 'unsupported_content_type');
    }
    throw bad(at, `${at} must be {type: "text", text: string}`);
  }).join('\n');
}

function parseMessages(msgs: unknown, tok: Tokenizer): ChatMessage[] {
  if (!Array.isArray(msgs) || msgs.length === 0) throw bad('messages', "'messages' must be a non-empty array");
  return msgs.map((m, i) => {
    const mm = m as Body;
    const at = `messages[${i}]`;
    if (!mm || typeof mm !== 'object') throw bad(at, `${at} must be an object {role, content}`);
    const role = mm.role === 'developer' ? 'system' : mm.role; // OpenAI: developer messages replace system messages
    if (!['system', 'user', 'assistant', 'tool'].includes(role as string)) {
      throw bad(`${at}.role`, `${at}.role must be one of system, developer, user, assistant, tool; got ${JSON.stringify(mm.role)}`);
    }
    if (!templateHasRole(tok, role as ChatMessage['role'])) {
      throw bad(`${at}.role`, `${at}: this model's chat template has no '${role}' role`);
    }
    if (mm.tool_calls !== undefined && mm.tool_calls !== null) throw notImplemented('tools');
    const content = messageText(mm.content, `${at}.content`);
    if (content === undefined) throw bad(`${at}.content`, `${at}.content is required`);
    const out: ChatMessage = { role: role as ChatMessage['role'], content };
    if (typeof mm.name === 'string') out.name = mm.name;
    if (role === 'tool') {
      if (typeof mm.tool_call_id !== 'string') throw bad(`${at}.tool_call_id`, `${at}: a tool message needs tool_call_id`);
      out.tool_call_id = mm.tool_call_id;
    }
    return out;
  });
}

function parseStop(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const stop = typeof v === 'string' ? [v] : Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
  if (!stop) throw bad('stop', "'stop' must be a string or an array of strings");
  if (stop.length > 4) throw bad('stop', "'stop' takes at most 4 sequences");
  return stop;
}

/** logit_bias: {"token id": bias in [-100, 100]}. */
function parseLogitBias(v: unknown, vocab: number): Map<number, number> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('logit_bias', "'logit_bias' must be an object mapping token ids to biases");
  const m = new Map<number, number>();
  for (const [k, b] of Object.entries(v as Body)) {
    if (!/^\d+$/.test(k) || Number(k) >= vocab) throw bad('logit_bias', `logit_bias: '${k}' is not a token id of this model (0..${vocab - 1})`);
    if (typeof b !== 'number' || !Number.isFinite(b) || b < -100 || b > 100) throw bad('logit_bias', `logit_bias['${k}'] must be a number between -100 and 100`);
    m.set(Number(k), b);
  }
  return m;
}

function isTokenList(v: unknown, vocab: number): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && t >= 0 && t < vocab);
}

/** Parses and checks a request body; throws HttpError (400/404) naming the offending field. */
export function parseRequest(b: Body, chat: boolean, tok: Tokenizer, lim: ParseLimits): CompletionRequest {
  checkModel(b.model, lim.modelNames);
  checkFields(b, chat);
  const n = optNumber(b, 'n', 1, 128, true) ?? 1;
  const askedMax = optNumber(b, 'max_tokens', 0, lim.maxTokensLimit, true) ?? optNumber(b, 'max_completion_tokens', 0, lim.maxTokensLimit, true);
  const stream = optBool(b, 'stream') ?? false;
  let includeUsage = false;
  if (b.stream_options !== undefined && b.stream_options !== null) {
    if (!stream) throw bad('stream_options', "'stream_options' is only allowed when 'stream' is true");
    const so = b.stream_options as Body;
    if (typeof so !== 'object' || Array.isArray(so)) throw bad('stream_options', "'stream_options' must be an object");
    for (const k of Object.keys(so)) if (k !== 'include_usage' && k !== 'include_obfuscation') throw bad(`stream_options.${k}`, `Unrecognized stream option: ${k}`);
    includeUsage = optBool(so, 'include_usage') ?? false;
  }
  let logprobs: number | undefined;
  if (chat) {
    const want = optBool(b, 'logprobs') ?? false;
    const top = optNumber(b, 'top_logprobs', 0, 20, true);
    if (top !== undefined && !want) throw bad('top_logprobs', "'top_logprobs' requires 'logprobs': true");
    logprobs = want ? top ?? 0 : undefined;
  } else {
    logprobs = optNumber(b, 'logprobs', 0, 5, true);
  }
  let stop = parseStop(b.stop);
  const sampling = {
    temperature: optNumber(b, 'temperature', 0, 2) ?? 1,
    topP: optNumber(b, 'top_p', 0.0001, 1) ?? 1,
    topK: optNumber(b, 'top_k', 0, tok.vocabSize, true) ?? 0,
    minP: 0, repeatPenalty: 1,
    seed: optNumber(b, 'seed', -(2 ** 53), 2 ** 53, true),
    presencePenalty: optNumber(b, 'presence_penalty', -2, 2) ?? 0,
    frequencyPenalty: optNumber(b, 'frequency_penalty', -2, 2) ?? 0,
    logitBias: parseLogitBias(b.logit_bias, tok.vocabSize),
  };
  let prompt: number[];
  const param = chat ? 'messages' : 'prompt';
  // text that cannot fit in the prompt limit is refused before the tokenizer spends time on it
  const checkLength = (text: string) => {
    if (text.length > maxPromptChars(tok, lim.maxPromptTokens)) {
      throw bad(param, `the prompt has ${text.length} characters: more than ${lim.maxPromptTokens} tokens can hold`, 'context_length_exceeded');
    }
    return text;
  };
  // user text is data: special tokens come only from the chat template's own text
  if (chat) {
    const messages = parseMessages(b.messages, tok);
    const r = renderChat(tok, messages);
    if (!r.literal && messages.some((m) => hasSpecialText(tok, m.content))) {
      throw bad('messages', "a message contains special-token text, which this model's template would not keep as text");
    }
    stop = [...stop, ...r.extraStops];
    prompt = tok.encode(checkLength(r.prompt), { addBos: r.addBos, literalRanges: r.literal });
  } else {
    const p = Array.isArray(b.prompt) && b.prompt.length === 1 && typeof b.prompt[0] === 'string' ? b.prompt[0] : b.prompt;
    if (typeof p !== 'string' && !isTokenList(p, tok.vocabSize)) {
      throw bad('prompt', "'prompt' must be a string or an array of token ids (batches of prompts: send separate requests)");
    }
    prompt = typeof p === 'string' ? tok.encode(checkLength(p), { parseSpecial: false }) : p;
  }
  if (prompt.length === 0) throw bad(param, 'the prompt is empty');
  if (prompt.length > lim.maxPromptTokens) {
    throw bad(param, `the prompt has ${prompt.length} tokens; the limit is ${lim.maxPromptTokens}`, 'context_length_exceeded');
  }
  const maxTokens = askedMax ?? Math.max(0, Math.min(lim.defaultMaxTokens, lim.contextLength - prompt.length));
  if (prompt.length + maxTokens > lim.contextLength) {
    throw bad('max_tokens', `prompt (${prompt.length} tokens) + max_tokens (${maxTokens}) exceed the model's context length ${lim.contextLength}`,
      'context_length_exceeded');
  }
  return { chat, prompt, n, maxTokens, stream, includeUsage, logprobs, sampling: { ...sampling, stop } };
}

const utf8 = new TextDecoder();

/** Chat: {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], refusal: null}. */
export function chatLogprobs(tok: Tokenizer, lps: readonly TokenLogprob[]): { content: unknown[]; refusal: null } {
  const entry = (t: number, logprob: number) => { const b = tok.tokenBytes(t); return { token: utf8.decode(b), logprob, bytes: Array.from(b) }; };
  return { content: lps.map((l) => ({ ...entry(l.token, l.logprob), top_logprobs: l.top.map((x) => entry(x.token, x.logprob)) })), refusal: null };
}

/** Completions: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}; offsets count from `offset`. */
export function completionLogprobs(tok: Tokenizer, lps: readonly TokenLogprob[], offset: number) {
  const text = (t: number) => utf8.decode(tok.tokenBytes(t));
  const tokens = lps.map((l) => text(l.token));
  const textOffset: number[] = [];
  for (const s of tokens) { textOffset.push(offset); offset += s.length; }
  return {
    tokens, token_logprobs: lps.map((l) => l.logprob), text_offset: textOffset,
    top_logprobs: lps.map((l) => Object.fromEntries(l.top.map((x) => [text(x.token), x.logprob]))),
  };
}
