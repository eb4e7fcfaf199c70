'use strict';
// Loads the compiled addon; throws when it was not built (the watchers then use their TS parsers).
module.exports = require('./build/Release/callmap_watchers.node');
