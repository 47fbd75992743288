{
  "targets": [
    {
      "target_name": "portico_native",
      "sources": ["portico_native.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
