import { openStore, storeOptionsOf, type Store } from '../store/index.ts';
import { configFrom, type GlobalOptions } from './main.ts';

/** Runs `fn` with the configured store open (the CLI shares the server's database; WAL lets both work). */
export async function withStore<T>(opts: GlobalOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const config = configFrom(opts);
  const store = await openStore({ ...storeOptionsOf(config), applicationName: 'postline-cli' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
