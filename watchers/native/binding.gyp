{
  "targets": [
    {
      "target_name": "callmap_watchers",
      "sources": ["src/addon.c", "src/kafka.c", "src/istio.c"],
      "cflags": ["-O3", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
