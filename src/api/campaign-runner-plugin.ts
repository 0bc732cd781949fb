// Runs the campaign runner (campaigns/campaign-runner.ts) for as long as the API instance is
// open: started when the app is ready, stopped (waiting for a batch in progress) when it
// closes, before server.ts closes the store. campaigns.runner: false leaves it off (tests
// that drive the runner themselves, or a node that should only serve the API).
import type { FastifyPluginAsync } from 'fastify';
import { campaignServiceOf } from '../campaigns/index.ts';

export const campaignRunnerPlugin: FastifyPluginAsync = async (app) => {
  if (!app.postline.config.campaigns.runner) return;
  const { runner } = await campaignServiceOf(app.postline);
  app.addHook('onReady', async () => runner.start());
  app.addHook('onClose', async () => runner.stop());
};
