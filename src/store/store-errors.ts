// What a database error means for the client waiting on it, for both backends: storage full
// (ask for a long wait), unavailable (retry shortly: the write was not committed), or a
// conflict with existing data. SQLite reports result codes in `errcode`
// (https://sqlite.org/rescode.html); PostgreSQL SQLSTATE in `code` (appendix A of its manual).

export type StoreErrorKind = 'full' | 'unavailable' | 'conflict';

const SQLITE_FULL = 13;
const SQLITE_BUSY_CODES = new Set([5, 6, 261, 517, 10]); // BUSY, LOCKED, BUSY_RECOVERY, BUSY_SNAPSHOT, IOERR
const SQLITE_CONFLICT_CODES = new Set([1555, 2067, 787]); // CONSTRAINT_PRIMARYKEY, CONSTRAINT_UNIQUE, CONSTRAINT_FOREIGNKEY

// 53100 disk_full, 53200 out_of_memory; class 08 connection exceptions; 57P01–57P03 the
// server shutting down or starting; 53300 too many connections; 40001/40P01 serialization
// failure and deadlock (the transaction was rolled back: retrying is safe).
const PG_FULL = new Set(['53100']);
const PG_UNAVAILABLE = new Set(['53300', '53200', '57P01', '57P02', '57P03', '40001', '40P01', '57014']);
const PG_CONFLICT = new Set(['23505', '23503']);
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN']);

function kindOf(e: { code?: unknown; errcode?: unknown; message?: unknown }): StoreErrorKind | null {
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === 'ENOSPC' || code === 'EDQUOT' || PG_FULL.has(code)) return 'full';
  if (code === 'ERR_SQLITE_ERROR' || typeof e.errcode === 'number') {
    const errcode = Number(e.errcode);
    if ((errcode & 0xff) === SQLITE_FULL) return 'full';
    if (SQLITE_BUSY_CODES.has(errcode)) return 'unavailable';
    if (SQLITE_CONFLICT_CODES.has(errcode)) return 'conflict';
    return null;
  }
  if (code === 'STORE_UNAVAILABLE' || PG_UNAVAILABLE.has(code) || code.startsWith('08') || NET_CODES.has(code)) return 'unavailable';
  if (PG_CONFLICT.has(code)) return 'conflict';
  // node-postgres raises these without a code when the pool cannot hand out a connection in
  // time or the server went away mid-query.
  const message = typeof e.message === 'string' ? e.message : '';
  if (/timeout exceeded when trying to connect|Connection terminated|connection is closed|Client was closed|Cannot use a pool after calling end/i.test(message)) return 'unavailable';
  return null;
}

/** Classifies `err` (or an error in its `cause` chain). */
export function storeErrorKind(err: unknown): StoreErrorKind | null {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const kind = kindOf(e as { code?: unknown });
    if (kind) return kind;
  }
  return null;
}
