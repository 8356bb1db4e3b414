// The kernel module's entry: inference kernels (kernels.ts) and training kernels (train.ts) in one
// module, so one worker pool over one shared memory runs both.
export * from './kernels';
export * from './train';
