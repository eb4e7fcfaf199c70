'use strict';
// One compiled module per watcher, loaded on demand; each throws when it was not built (the
// watcher then uses its TypeScript parser).
exports.loadKafka = () => require('./build/Release/callmap_kafka.node');
exports.loadIstio = () => require('./build/Release/callmap_istio.node');
