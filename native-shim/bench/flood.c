// The flood generator of the native bench: prebuilt Ethernet + IPv4 + TCP
// (PSH|ACK, fixed payload) frames sent with sendmmsg on an AF_PACKET socket
// bound to one interface, PACKET_QDISC_BYPASS (straight to the veth's xmit).
// Bounded: stops after COUNT frames or SECONDS, whichever comes first.
// Each thread has its own socket and may be pinned to a CPU.
//
//   flood IFNAME DST_MAC SRC_IP DST_IP DST_PORT COUNT SECONDS CPUS PAYLOAD
//     CPUS: comma-separated CPU numbers, one sender thread each ("-": one unpinned thread)
// Prints one JSON line: {"sent":N,"errors":E,"threads","start_ns":T0,"end_ns":T1} (CLOCK_MONOTONIC), "cpu_ns" (getrusage).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench-common.h"

#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

#define VLEN 1024
#define MAX_THREADS 64

static char ifname[IFNAMSIZ];
static unsigned ifindex;
static uint8_t src_mac[6], dst_mac[6];
static uint32_t src_ip, dst_ip; // network order
static unsigned dport, payload_len;
static uint64_t per_thread;
static double seconds;

struct worker {
  pthread_t tid;
  int cpu;
  uint64_t sent, errors;
};

static uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  return sum;
}

// Frame i: sport 20000 + i, seq i * payload_len.
static size_t build_frame(uint8_t* f, unsigned i) {
  size_t tcp_len = 20 + payload_len, ip_len = 20 + tcp_len;
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, src_mac, 6);
  f[12] = 0x08; f[13] = 0x00;
  uint8_t* ip = f + 14;
  memset(ip, 0, 20);
  ip[0] = 0x45;
  ip[2] = (uint8_t)(ip_len >> 8); ip[3] = (uint8_t)ip_len;
  ip[4] = (uint8_t)(i >> 8); ip[5] = (uint8_t)i;
  ip[6] = 0x40; // DF
  ip[8] = 64;
  ip[9] = 6;
  memcpy(ip + 12, &src_ip, 4);
  memcpy(ip + 16, &dst_ip, 4);
  uint16_t c = csum_fold(csum_add(0, ip, 20));
  ip[10] = (uint8_t)(c >> 8); ip[11] = (uint8_t)c;
  uint8_t* t = ip + 20;
  memset(t, 0, 20);
  unsigned sport = 20000 + i;
  t[0] = (uint8_t)(sport >> 8); t[1] = (uint8_t)sport;
  t[2] = (uint8_t)(dport >> 8); t[3] = (uint8_t)dport;
  uint32_t seq = htonl(i * payload_len + 1), ack = htonl(1);
  memcpy(t + 4, &seq, 4);
  memcpy(t + 8, &ack, 4);
  t[12] = 0x50;
  t[13] = 0x18; // PSH|ACK
  t[14] = 0xff; t[15] = 0xff;
  for (unsigned k = 0; k < payload_len; k++) t[20 + k] = (uint8_t)('a' + (k + i) % 26);
  uint32_t sum = csum_add(0, ip + 12, 8) + 6 + (uint32_t)tcp_len;
  c = csum_fold(csum_add(sum, t, tcp_len));
  t[16] = (uint8_t)(c >> 8); t[17] = (uint8_t)c;
  return 14 + ip_len;
}

static void* run(void* arg) {
  struct worker* w = arg;
  if (w->cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(w->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  int fd = socket(AF_PACKET, SOCK_RAW, 0); // protocol 0: this socket never receives
  if (fd < 0) { perror("flood: socket(AF_PACKET)"); exit(2); }
  int one = 1, sndbuf = 4 << 20;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = (int)ifindex;
  sll.sll_protocol = 0;
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) != 0) { perror("flood: bind"); exit(2); }
  uint8_t (*frames)[2048] = calloc(VLEN, 2048);
  struct iovec* iov = calloc(VLEN, sizeof *iov);
  struct mmsghdr* msgs = calloc(VLEN, sizeof *msgs);
  if (frames == NULL || iov == NULL || msgs == NULL) { perror("flood: calloc"); exit(2); }
  for (unsigned i = 0; i < VLEN; i++) {
    iov[i].iov_base = frames[i];
    iov[i].iov_len = build_frame(frames[i], i);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);
  while (w->sent < per_thread) {
    unsigned n = per_thread - w->sent < VLEN ? (unsigned)(per_thread - w->sent) : VLEN;
    int r = sendmmsg(fd, msgs, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS || errno == EAGAIN) { w->errors++; sched_yield(); }
      else { perror("flood: sendmmsg"); exit(2); }
    } else {
      w->sent += (uint64_t)r;
    }
    if (now_ns() >= deadline) break;
  }
  close(fd);
  free(frames);
  free(iov);
  free(msgs);
  return NULL;
}

static int parse_mac(const char* s, uint8_t* m) {
  return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

int main(int argc, char** argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: flood IFNAME DST_MAC SRC_IP DST_IP DST_PORT COUNT SECONDS CPUS PAYLOAD\n");
    return 2;
  }
  snprintf(ifname, sizeof ifname, "%s", argv[1]);
  ifindex = if_nametoindex(ifname);
  if (ifindex == 0) { fprintf(stderr, "flood: no interface %s\n", ifname); return 2; }
  if (parse_mac(argv[2], dst_mac) != 0) { fprintf(stderr, "flood: bad MAC %s\n", argv[2]); return 2; }
  if (inet_pton(AF_INET, argv[3], &src_ip) != 1 || inet_pton(AF_INET, argv[4], &dst_ip) != 1) {
    fprintf(stderr, "flood: bad address\n");
    return 2;
  }
  dport = (unsigned)atoi(argv[5]);
  uint64_t count = strtoull(argv[6], NULL, 10);
  seconds = atof(argv[7]);
  payload_len = (unsigned)atoi(argv[9]);
  if (payload_len > 1400) payload_len = 1400;
  {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (fd < 0 || ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) { perror("flood: SIOCGIFHWADDR"); return 2; }
    memcpy(src_mac, ifr.ifr_hwaddr.sa_data, 6);
    close(fd);
  }
  static struct worker w[MAX_THREADS];
  int nthreads = 0;
  if (strcmp(argv[8], "-") == 0) {
    w[nthreads++].cpu = -1;
  } else {
    char* save = NULL;
    for (char* tok = strtok_r(argv[8], ",", &save); tok != NULL && nthreads < MAX_THREADS; tok = strtok_r(NULL, ",", &save)) {
      w[nthreads++].cpu = atoi(tok);
    }
  }
  per_thread = (count + (uint64_t)nthreads - 1) / (uint64_t)nthreads;
  uint64_t t0 = now_ns();
  for (int i = 0; i < nthreads; i++) pthread_create(&w[i].tid, NULL, run, &w[i]);
  uint64_t sent = 0, errors = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(w[i].tid, NULL);
    sent += w[i].sent;
    errors += w[i].errors;
  }
  uint64_t t1 = now_ns();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  uint64_t cpu = ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
                 ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
  printf("{\"sent\":%llu,\"errors\":%llu,\"threads\":%d,\"start_ns\":%llu,\"end_ns\":%llu,\"cpu_ns\":%llu}\n",
         (unsigned long long)sent, (unsigned long long)errors, nthreads, (unsigned long long)t0, (unsigned long long)t1,
         (unsigned long long)cpu);
  return 0;
}
