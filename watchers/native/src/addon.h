#ifndef CALLMAP_WATCHERS_ADDON_H
#define CALLMAP_WATCHERS_ADDON_H
#include <node_api.h>

/* Each part registers its functions on the exports object; returns NULL on failure. */
napi_value kafka_init(napi_env env, napi_value exports);
napi_value istio_init(napi_env env, napi_value exports);

#endif
