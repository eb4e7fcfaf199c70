// Placeholder until the component lands; replaced by its implementation.

import type { Command } from '../../../mapper/cli/command.ts';
import { CallmapError } from '../../../mapper/contract/index.ts';

export const command: Command = {
  name: 'visualize',
  summary: 'visualize',
  usage: 'callmap visualize: not available in this build yet.',
  async run() {
    throw new CallmapError('NOT_IMPLEMENTED', 'callmap visualize is not available in this build yet.');
  },
};
