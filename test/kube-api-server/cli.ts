// Placeholder until the component lands; replaced by its implementation.

import type { Command } from '../../mapper/cli/command.ts';
import { CallmapError } from '../../mapper/contract/index.ts';

export const command: Command = {
  name: 'kube-test-server',
  summary: 'kube-test-server',
  usage: 'callmap kube-test-server: not available in this build yet.',
  async run() {
    throw new CallmapError('NOT_IMPLEMENTED', 'callmap kube-test-server is not available in this build yet.');
  },
};
