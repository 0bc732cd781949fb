export { loadConfig, ConfigError, ENV_OVERRIDES } from './load-config.ts';
export type { LoadConfigOptions } from './load-config.ts';
export { configSchema } from './schema.ts';
export type { Config, ConfigInput } from './schema.ts';
export { parseDurationMs, formatDurationMs } from './duration.ts';
export { parseListen } from './listen.ts';
export type { ListenAddress } from './listen.ts';
