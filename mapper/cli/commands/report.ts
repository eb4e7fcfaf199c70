// Placeholder until the component lands; replaced by its implementation.

import type { Command } from '../../../mapper/cli/command.ts';
import { CallmapError } from '../../../mapper/contract/index.ts';

export const command: Command = {
  name: 'report',
  summary: 'report',
  usage: 'callmap report: not available in this build yet.',
  async run() {
    throw new CallmapError('NOT_IMPLEMENTED', 'callmap report is not available in this build yet.');
  },
};
