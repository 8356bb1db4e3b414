/** Writing a model as GGUF lives next to reading it (gguf-model.ts); this module is the documented entry point. */
export { writeModelGGUF, type WriteModelOptions } from './gguf-model.js';
