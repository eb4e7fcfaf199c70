// Placeholder until the component lands; replaced by its implementation.

import type { Command } from '../../../mapper/cli/command.ts';
import { CallmapError } from '../../../mapper/contract/index.ts';

export const command: Command = {
  name: 'list',
  summary: 'list',
  usage: 'callmap list: not available in this build yet.',
  async run() {
    throw new CallmapError('NOT_IMPLEMENTED', 'callmap list is not available in this build yet.');
  },
};
