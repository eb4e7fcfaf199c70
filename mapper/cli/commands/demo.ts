// Placeholder until the component lands; replaced by its implementation.

import type { Command } from '../../../mapper/cli/command.ts';
import { CallmapError } from '../../../mapper/contract/index.ts';

export const command: Command = {
  name: 'demo',
  summary: 'demo',
  usage: 'callmap demo: not available in this build yet.',
  async run() {
    throw new CallmapError('NOT_IMPLEMENTED', 'callmap demo is not available in this build yet.');
  },
};
