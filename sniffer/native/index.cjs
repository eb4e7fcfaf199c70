'use strict';
// Loads the compiled addon; throws when it was not built (libpcap-dev missing): live capture then
// reports SNIFFER_NO_LIBPCAP, and --pcap replay still works (it reads files in TypeScript).
module.exports = require('./build/Release/callmap_pcap.node');
