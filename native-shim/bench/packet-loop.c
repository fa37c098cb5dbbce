// The C baseline of the AF_PACKET capture bench: the loop the native shim's
// packet PacketIo runs, minus JS and WASM. SOCK_RAW on one interface
// (protocol 0, filter and SO_RCVBUFFORCE set before bind(ETH_P_ALL)), then
// recvmmsg(MSG_DONTWAIT) of up to 1024 datagrams per call into fixed slots
// (as the shim does: slot i at i * align8(snap)), BATCH datagrams at most per
// round, poll() when nothing is left; it only counts.
//
//   packet-loop IFNAME SNAP BATCH RCVBUF FILTER_HEX|- EXPECT IDLE_MS
// Prints READY, waits for a line on stdin, then reads until EXPECT packets,
// or IDLE_MS without a packet after the first, or 10 s without any.
// Last line: JSON {"processed","batches","first_ns","last_ns","cpu_ns","drops"}.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"

#define VLEN 1024

int main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: packet-loop IFNAME SNAP BATCH RCVBUF FILTER_HEX|- EXPECT IDLE_MS\n");
    return 2;
  }
  const char* ifname = argv[1];
  unsigned snap = (unsigned)atoi(argv[2]);
  unsigned batch = (unsigned)atoi(argv[3]);
  int rcvbuf = atoi(argv[4]);
  const char* filter = argv[5];
  uint64_t expect = strtoull(argv[6], NULL, 10);
  int idle_ms = atoi(argv[7]);

  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) { perror("packet-loop: socket"); return 2; }
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) { fprintf(stderr, "packet-loop: no interface %s\n", ifname); return 2; }
  if (strcmp(filter, "-") != 0 && attach_filter(fd, filter) != 0) { perror("packet-loop: SO_ATTACH_FILTER"); return 2; }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) { perror("packet-loop: SO_RCVBUFFORCE"); return 2; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) { perror("packet-loop: bind"); return 2; }

  const size_t slot = (snap + 7) & ~7u;
  uint8_t* data = aligned_alloc(4096, ((slot * batch) + 4095) & ~(size_t)4095);
  struct mmsghdr* msgs = calloc(VLEN, sizeof *msgs);
  struct iovec* iovs = calloc(VLEN, sizeof *iovs);
  if (data == NULL || msgs == NULL || iovs == NULL) { perror("packet-loop: alloc"); return 2; }
  memset(data, 0, slot * batch);

  printf("READY\n");
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 0;

  uint64_t cpu0 = cpu_ns(), go = now_ns();
  uint64_t processed = 0, batches = 0, first = 0, last = 0, overruns = 0;
  for (;;) {
    uint64_t t = now_ns();
    unsigned n = 0;
    while (n < batch) {
      unsigned want = batch - n < VLEN ? batch - n : VLEN;
      for (unsigned i = 0; i < want; i++) {
        iovs[i].iov_base = data + (size_t)(n + i) * slot;
        iovs[i].iov_len = snap;
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int r = recvmmsg(fd, msgs, want, MSG_DONTWAIT, NULL);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS) { overruns++; continue; }
        if (errno != EAGAIN) { perror("packet-loop: recvmmsg"); return 2; }
        break;
      }
      n += (unsigned)r;
      if ((unsigned)r < want) break;
    }
    if (n > 0) {
      if (first == 0) first = t;
      processed += n;
      batches++;
      last = now_ns();
      if (processed >= expect) break;
      continue;
    }
    if (!wait_for_more(fd, POLLIN, go, first, last, idle_ms)) break;
  }
  uint64_t cpu = cpu_ns() - cpu0;
  struct tpacket_stats st = {0};
  socklen_t len = sizeof st;
  getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  printf("{\"processed\":%llu,\"batches\":%llu,\"first_ns\":%llu,\"last_ns\":%llu,\"cpu_ns\":%llu,\"drops\":%u,\"overruns\":%llu}\n",
         (unsigned long long)processed, (unsigned long long)batches, (unsigned long long)first,
         (unsigned long long)last, (unsigned long long)cpu, st.tp_drops, (unsigned long long)overruns);
  close(fd);
  return 0;
}
