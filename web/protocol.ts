/** Messages between the page (main.ts) and the engine worker (engine-worker.ts). */
export type FromPage =
  | { type: 'load'; url?: string; bytes?: ArrayBuffer; name: string; threads: number }
  | { type: 'generate'; prompt: string; chat: boolean; maxTokens: number; temperature: number; seed?: number }
  | { type: 'stop' };

export interface LoadedInfo {
  name: string; arch: string; parameters: number; backend: string; threads: number;
  layers: number; dim: number; vocab: number; context: number; chatTemplate: boolean;
}

export type ToPage =
  | { type: 'progress'; stage: 'download' | 'weights'; done: number; total: number }
  | { type: 'loaded'; info: LoadedInfo; seconds: number }
  | { type: 'token'; text: string; tokens: number; tokensPerSecond: number }
  | { type: 'done'; finishReason: string; promptTokens: number; completionTokens: number; promptMs: number; tokensPerSecond: number }
  | { type: 'error'; message: string };
