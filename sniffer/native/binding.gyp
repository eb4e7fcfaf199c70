{
  "targets": [
    {
      "target_name": "callmap_pcap",
      "sources": ["src/pcap.c"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lpcap"]
    }
  ]
}
