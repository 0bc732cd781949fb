// The bytes of a stored message for the routes that show them. Campaign messages are stored
// as what they are made from (campaigns/campaign-body.ts) and made here on read; one whose
// campaign was deleted since cannot be made, and answers 404 like a body removed by retention.
import type { Readable } from 'node:stream';
import { UnmakeableBodyError, type BodyRenderer } from '../store/index.ts';
import { campaignServiceOf } from '../campaigns/index.ts';
import { ApiProblem } from './problem.ts';
import type { ApiDeps } from './types.ts';

export function messageBodyReader(deps: ApiDeps): (id: string) => Promise<Buffer | Readable> {
  const render: BodyRenderer = async (body) => (await campaignServiceOf(deps)).renderBody(body);
  return async (id) => {
    try {
      return await deps.store.openBody(id, { render });
    } catch (err) {
      if (!(err instanceof UnmakeableBodyError)) throw err;
      throw new ApiProblem('not-found', `the bytes of message ${id} cannot be made again: ${err.message}; its receipts remain`, { code: 'MESSAGE_BODY_UNAVAILABLE', cause: err });
    }
  };
}
