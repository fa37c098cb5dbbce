// What the C baseline loops of the native bench (nfq-loop.c, packet-loop.c,
// packet-ring.c, flood.c) share: clocks, a BPF program from hex, and the
// wait between batches. Header-only; each loop is one translation unit.
#ifndef TCPCOPY_BENCH_COMMON_H
#define TCPCOPY_BENCH_COMMON_H

#include <linux/filter.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* User + system CPU of this process. */
static inline uint64_t cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
         ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* Attaches the classic BPF program given as hex (8-byte sock_filter entries). */
static inline int attach_filter(int fd, const char* hex) {
  size_t n = strlen(hex) / 2;
  if (n == 0 || n % 8 != 0) return -1;
  uint8_t* bytes = malloc(n);
  for (size_t i = 0; i < n; i++) sscanf(hex + 2 * i, "%2hhx", &bytes[i]);
  struct sock_fprog prog = {(unsigned short)(n / 8), (struct sock_filter*)bytes};
  int r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
  free(bytes);
  return r;
}

/*
 * After a round that found nothing: waits for `events` on fd, at most until
 * the flood has been idle idle_ms (or, before its first packet, 100 ms at a
 * time for up to 10 s from `go`). Returns 0 when the loop should end.
 */
static inline int wait_for_more(int fd, short events, uint64_t go, uint64_t first, uint64_t last, int idle_ms) {
  uint64_t now = now_ns();
  int wait;
  if (first == 0) {
    if (now - go > 10000000000ull) return 0;
    wait = 100;
  } else {
    if (now - last >= (uint64_t)idle_ms * 1000000u) return 0;
    wait = idle_ms - (int)((now - last) / 1000000u);
    if (wait < 1) wait = 1;
  }
  struct pollfd p = {fd, events, 0};
  poll(&p, 1, wait);
  return 1;
}

#endif
