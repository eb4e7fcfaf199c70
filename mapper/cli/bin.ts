#!/usr/bin/env node
/** The `callmap` executable. */
import { runAsProcess } from './process.ts';

runAsProcess(process.argv.slice(2));
