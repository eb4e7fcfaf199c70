{
  "target_defaults": {
    "cflags": ["-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "defines": ["NAPI_VERSION=8"]
  },
  "targets": [
    { "target_name": "callmap_kafka", "sources": ["src/kafka.c"] },
    { "target_name": "callmap_istio", "sources": ["src/istio.c"] }
  ]
}
