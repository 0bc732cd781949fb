export { createScheduler } from './scheduler.ts';
export type { Scheduler, SchedulerOptions } from './scheduler.ts';
export { retryDelayMs, nextAttempt } from './retry-schedule.ts';
export { startDeliveryWorker } from './delivery-worker.ts';
export type { DeliveryWorker } from './delivery-worker.ts';
