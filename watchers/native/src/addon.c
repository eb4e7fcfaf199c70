#include "addon.h"

static napi_value init(napi_env env, napi_value exports) {
  if (kafka_init(env, exports) == NULL) return NULL;
  if (istio_init(env, exports) == NULL) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
