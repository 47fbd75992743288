{
  "variables": {
    "have_librbd": "<!(test -f /usr/include/rbd/librbd.h && test -f /usr/include/rados/librados.h && echo 1 || echo 0)",
    "have_librbdpp": "<!(test -f /usr/include/rbd/librbd.hpp && test -f /usr/include/rados/librados.hpp && test -f /usr/include/rados/buffer.h && echo 1 || echo 0)",
    "have_liburing": "<!(test -f /usr/include/liburing.h && echo 1 || echo 0)"
  },
  "targets": [
    {
      "target_name": "portico_native",
      "sources": ["portico_native.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ],
  "conditions": [
    ["have_librbd==1", {
      "targets": [
        {
          "target_name": "portico_rbd",
          "sources": ["portico_rbd.c"],
          "cflags": ["-O2", "-Wall"],
          "libraries": ["-lrbd", "-lrados"],
          "conditions": [
            ["have_librbdpp==1", {
              "sources": ["portico_rbd_bl.cc"],
              "defines": ["PORTICO_RBD_BL"],
              "cflags_cc": ["-std=c++17", "-fexceptions"],
              "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"]
            }]
          ]
        }
      ]
    }],
    ["have_liburing==1", {
      "targets": [
        {
          "target_name": "portico_uring",
          "sources": ["portico_uring.c"],
          "cflags": ["-O2", "-Wall"],
          "libraries": ["-luring"]
        }
      ]
    }]
  ]
}
