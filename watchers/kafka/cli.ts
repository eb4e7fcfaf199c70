// Placeholder until the component lands; replaced by its implementation.

import type { Command } from '../../mapper/cli/command.ts';
import { CallmapError } from '../../mapper/contract/index.ts';

export const command: Command = {
  name: 'watch kafka',
  summary: 'watch kafka',
  usage: 'callmap watch kafka: not available in this build yet.',
  async run() {
    throw new CallmapError('NOT_IMPLEMENTED', 'callmap watch kafka is not available in this build yet.');
  },
};
