// What a PACKET_MMAP ring would buy over recvmmsg: the same capture as
// packet-loop.c (SOCK_RAW on one interface, same filter, bound after setup),
// but through a TPACKET_V3 RX ring: the kernel copies frames into mmap'ed
// blocks in softirq, the loop walks retired blocks and hands them back
// (no syscall per batch; poll() only when the next block is not ready).
//
//   packet-ring IFNAME SNAP BLOCK_KIB BLOCKS FILTER_HEX|- EXPECT IDLE_MS
// Protocol and output as packet-loop.c (READY, a line on stdin, one JSON line).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: packet-ring IFNAME SNAP BLOCK_KIB BLOCKS FILTER_HEX|- EXPECT IDLE_MS\n");
    return 2;
  }
  const char* ifname = argv[1];
  unsigned snap = (unsigned)atoi(argv[2]);
  unsigned block_size = (unsigned)atoi(argv[3]) * 1024u;
  unsigned blocks = (unsigned)atoi(argv[4]);
  const char* filter = argv[5];
  uint64_t expect = strtoull(argv[6], NULL, 10);
  int idle_ms = atoi(argv[7]);

  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) { perror("packet-ring: socket"); return 2; }
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) { fprintf(stderr, "packet-ring: no interface %s\n", ifname); return 2; }
  if (strcmp(filter, "-") != 0 && attach_filter(fd, filter) != 0) { perror("packet-ring: SO_ATTACH_FILTER"); return 2; }
  int v = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) != 0) { perror("packet-ring: PACKET_VERSION"); return 2; }
  unsigned frame_size = 1;
  while (frame_size < snap + 128) frame_size <<= 1; // a frame slot: header + snap
  struct tpacket_req3 req = {0};
  req.tp_block_size = block_size;
  req.tp_block_nr = blocks;
  req.tp_frame_size = frame_size;
  req.tp_frame_nr = (block_size / frame_size) * blocks;
  req.tp_retire_blk_tov = 50; // ms: a partly filled block is handed over after this
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) { perror("packet-ring: PACKET_RX_RING"); return 2; }
  size_t ring_len = (size_t)block_size * blocks;
  uint8_t* ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
  if (ring == MAP_FAILED) ring = mmap(NULL, ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) { perror("packet-ring: mmap"); return 2; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) { perror("packet-ring: bind"); return 2; }

  printf("READY\n");
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 0;

  uint64_t cpu0 = cpu_ns(), go = now_ns();
  uint64_t processed = 0, batches = 0, first = 0, last = 0, bytes = 0;
  unsigned b = 0;
  for (;;) {
    uint64_t t = now_ns();
    struct tpacket_block_desc* bd = (struct tpacket_block_desc*)(ring + (size_t)b * block_size);
    if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) {
      uint32_t n = bd->hdr.bh1.num_pkts;
      struct tpacket3_hdr* h = (struct tpacket3_hdr*)((uint8_t*)bd + bd->hdr.bh1.offset_to_first_pkt);
      for (uint32_t i = 0; i < n; i++) {
        bytes += h->tp_snaplen; // touch each header, as a reader would
        h = (struct tpacket3_hdr*)((uint8_t*)h + h->tp_next_offset);
      }
      __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
      b = (b + 1) % blocks;
      if (first == 0) first = t;
      processed += n;
      batches++;
      last = now_ns();
      if (processed >= expect) break;
      continue;
    }
    if (!wait_for_more(fd, POLLIN | POLLERR, go, first, last, idle_ms)) break;
  }
  uint64_t cpu = cpu_ns() - cpu0;
  struct tpacket_stats_v3 st = {0};
  socklen_t len = sizeof st;
  getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  printf("{\"processed\":%llu,\"batches\":%llu,\"first_ns\":%llu,\"last_ns\":%llu,\"cpu_ns\":%llu,\"drops\":%u,\"bytes\":%llu}\n",
         (unsigned long long)processed, (unsigned long long)batches, (unsigned long long)first,
         (unsigned long long)last, (unsigned long long)cpu, st.tp_drops, (unsigned long long)bytes);
  munmap(ring, ring_len);
  close(fd);
  return 0;
}
