// The kernel module's entry: inference kernels (kernels.ts, head.ts: the int8 LM head) and training kernels (train.ts) in one
// module, so one worker pool over one shared memory runs both.
export * from './kernels';
export * from './train';
export * from './head';
