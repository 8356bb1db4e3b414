/** Tokenizer interface shared by GGUF-metadata and tokenizer.json loaders. */

export type TokenizerKind = 'gpt2' | 'llama'; // byte-level BPE | SentencePiece-style with byte fallback

export interface EncodeOptions {
  addBos?: boolean;       // default: the model's tokenizer.ggml.add_bos_token (true if absent)
  parseSpecial?: boolean; // recognise special/control token text like <|eot_id|> (default true)
  addEos?: boolean;       // default: the model's tokenizer.ggml.add_eos_token (false if absent)
  /** Character ranges of `text` where special-token text is plain text (user content in a chat prompt). */
  literalRanges?: ReadonlyArray<readonly [number, number]>;
}

export interface Tokenizer {
  readonly kind: TokenizerKind;
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** Tokens that end generation (EOS, EOT, …). */
  readonly stopTokens: ReadonlySet<number>;
  readonly chatTemplate: string | undefined;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[]): string;
  /** The raw vocabulary string of one token. */
  piece(id: number): string;
  /** The bytes one token renders as when decoded (control tokens: none). */
  tokenBytes(id: number): Uint8Array;
  /** Stateful streaming decoder: returns only complete UTF-8 text, holding partial bytes back. */
  streamDecoder(): { push(id: number): string; flush(): string };
}
