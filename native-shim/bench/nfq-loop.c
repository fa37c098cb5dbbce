// The C baseline of the NFQUEUE bench: raw netlink, no libnetfilter_queue.
// Binds queue QUEUE (NFQNL_CFG_CMD_BIND, PARAMS copy-packet RANGE,
// QUEUE_MAXLEN), then the loop the native shim + core run, minus JS and
// WASM: recvmmsg(MSG_DONTWAIT) of up to 1024 datagrams per call into fixed
// slots (slot i at i * align8(snap)), BATCH datagrams at most per round; each
// NFQNL_MSG_PACKET gets one 32-byte NFQNL_MSG_VERDICT message (NFQA_VERDICT_HDR
// {verdict, id}) and the round's verdicts go out as ONE datagram (sendto the
// kernel), as nfqWriteVerdicts + PacketIo.send do; poll() when nothing is left.
//
//   nfq-loop QUEUE RANGE SNAP BATCH RCVBUF MAXLEN EXPECT IDLE_MS accept|drop
// Prints READY once every config message is acked, waits for a line on
// stdin, then reads until EXPECT packets, or IDLE_MS without one after the
// first, or 10 s without any.
// Last line: JSON {"processed","batches","first_ns","last_ns","cpu_ns","overruns"}.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
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
#define VERDICT_LEN 32 // nlmsghdr 16 + nfgenmsg 4 + nlattr 4 + {verdict, id} 8

static struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};

// One config message: nlmsghdr + nfgenmsg + one attribute of `alen` value bytes.
static int send_config(int fd, uint32_t seq, uint16_t queue, uint16_t atype, const void* val, uint16_t alen) {
  uint8_t buf[64] = {0};
  struct nlmsghdr* h = (struct nlmsghdr*)buf;
  h->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg)) + NLA_ALIGN(NLA_HDRLEN + alen);
  h->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  h->nlmsg_seq = seq;
  struct nfgenmsg* g = NLMSG_DATA(h);
  g->nfgen_family = AF_UNSPEC;
  g->version = NFNETLINK_V0;
  g->res_id = htons(queue);
  struct nlattr* a = (struct nlattr*)((uint8_t*)g + sizeof *g);
  a->nla_len = NLA_HDRLEN + alen;
  a->nla_type = atype;
  memcpy((uint8_t*)a + NLA_HDRLEN, val, alen);
  return sendto(fd, buf, h->nlmsg_len, 0, (struct sockaddr*)&kernel, sizeof kernel) < 0 ? -1 : 0;
}

// Waits for `n` acks; returns 0, or the first error's errno.
static int wait_acks(int fd, int n) {
  uint8_t buf[8192];
  while (n > 0) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0) return ETIMEDOUT;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0) return errno;
    for (struct nlmsghdr* h = (struct nlmsghdr*)buf; NLMSG_OK(h, (size_t)r); h = NLMSG_NEXT(h, r)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      int err = ((struct nlmsgerr*)NLMSG_DATA(h))->error;
      if (err != 0) return -err;
      n--;
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: nfq-loop QUEUE RANGE SNAP BATCH RCVBUF MAXLEN EXPECT IDLE_MS accept|drop\n");
    return 2;
  }
  uint16_t queue = (uint16_t)atoi(argv[1]);
  uint32_t range = (uint32_t)atoi(argv[2]);
  unsigned snap = (unsigned)atoi(argv[3]);
  unsigned batch = (unsigned)atoi(argv[4]);
  int rcvbuf = atoi(argv[5]);
  uint32_t maxlen = (uint32_t)strtoul(argv[6], NULL, 10);
  uint64_t expect = strtoull(argv[7], NULL, 10);
  int idle_ms = atoi(argv[8]);
  uint32_t verdict = htonl(strcmp(argv[9], "drop") == 0 ? NF_DROP : NF_ACCEPT);

  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) { perror("nfq-loop: socket"); return 2; }
  struct sockaddr_nl me = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr*)&me, sizeof me) != 0) { perror("nfq-loop: bind"); return 2; }
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0) { perror("nfq-loop: SO_RCVBUFFORCE"); return 2; }

  struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_UNSPEC)};
  struct nfqnl_msg_config_params params = {.copy_range = htonl(range), .copy_mode = NFQNL_COPY_PACKET};
  uint32_t qmax = htonl(maxlen);
  if (send_config(fd, 1, queue, NFQA_CFG_CMD, &cmd, sizeof cmd) != 0 ||
      send_config(fd, 2, queue, NFQA_CFG_PARAMS, &params, 5) != 0 ||
      send_config(fd, 3, queue, NFQA_CFG_QUEUE_MAXLEN, &qmax, 4) != 0) {
    perror("nfq-loop: sendto (config)");
    return 2;
  }
  int err = wait_acks(fd, 3);
  if (err != 0) { fprintf(stderr, "nfq-loop: binding queue %u failed: %s\n", queue, strerror(err)); return 2; }

  const size_t slot = (snap + 7) & ~7u;
  uint8_t* data = aligned_alloc(4096, ((slot * batch) + 4095) & ~(size_t)4095);
  uint8_t* tx = aligned_alloc(4096, ((size_t)VERDICT_LEN * batch + 4095) & ~(size_t)4095);
  uint32_t* lens = calloc(batch, sizeof *lens);
  struct mmsghdr* msgs = calloc(VLEN, sizeof *msgs);
  struct iovec* iovs = calloc(VLEN, sizeof *iovs);
  if (data == NULL || tx == NULL || lens == NULL || msgs == NULL || iovs == NULL) { perror("nfq-loop: alloc"); return 2; }
  memset(data, 0, slot * batch);

  printf("READY\n");
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 0;

  uint64_t cpu0 = cpu_ns(), go = now_ns();
  uint64_t processed = 0, batches = 0, first = 0, last = 0, overruns = 0, unsent = 0;
  uint32_t seq = 100;
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
        if (errno != EAGAIN) { perror("nfq-loop: recvmmsg"); return 2; }
        break;
      }
      for (int i = 0; i < r; i++) lens[n + (unsigned)i] = msgs[i].msg_len < snap ? msgs[i].msg_len : snap;
      n += (unsigned)r;
      if ((unsigned)r < want) break;
    }
    if (n > 0) {
      // One verdict per packet message, all in one datagram.
      uint8_t* v = tx;
      unsigned m = 0;
      for (unsigned d = 0; d < n; d++) {
        uint8_t* p = data + (size_t)d * slot;
        int len = (int)lens[d];
        for (struct nlmsghdr* h = (struct nlmsghdr*)p; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
          if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
          int alen = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
          struct nlattr* a = (struct nlattr*)((uint8_t*)NLMSG_DATA(h) + sizeof(struct nfgenmsg));
          for (; alen >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= alen;
               alen -= NLA_ALIGN(a->nla_len), a = (struct nlattr*)((uint8_t*)a + NLA_ALIGN(a->nla_len))) {
            if ((a->nla_type & NLA_TYPE_MASK) != NFQA_PACKET_HDR) continue;
            uint32_t id;
            memcpy(&id, (uint8_t*)a + NLA_HDRLEN, 4); // packet_id, big-endian: copied as is
            struct nlmsghdr* vh = (struct nlmsghdr*)v;
            vh->nlmsg_len = VERDICT_LEN;
            vh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT;
            vh->nlmsg_flags = NLM_F_REQUEST;
            vh->nlmsg_seq = seq++;
            vh->nlmsg_pid = 0;
            struct nfgenmsg* g = (struct nfgenmsg*)(v + 16);
            g->nfgen_family = AF_UNSPEC;
            g->version = NFNETLINK_V0;
            g->res_id = htons(queue);
            struct nlattr* va = (struct nlattr*)(v + 20);
            va->nla_len = NLA_HDRLEN + 8;
            va->nla_type = NFQA_VERDICT_HDR;
            memcpy(v + 24, &verdict, 4);
            memcpy(v + 28, &id, 4);
            v += VERDICT_LEN;
            m++;
            break;
          }
        }
      }
      if (m > 0 && sendto(fd, tx, (size_t)(v - tx), 0, (struct sockaddr*)&kernel, sizeof kernel) < 0) unsent += m;
      if (first == 0) first = t;
      processed += m;
      batches++;
      last = now_ns();
      if (processed >= expect) break;
      continue;
    }
    if (!wait_for_more(fd, POLLIN, go, first, last, idle_ms)) break;
  }
  uint64_t cpu = cpu_ns() - cpu0;
  printf("{\"processed\":%llu,\"batches\":%llu,\"first_ns\":%llu,\"last_ns\":%llu,\"cpu_ns\":%llu,\"overruns\":%llu,\"unsent\":%llu}\n",
         (unsigned long long)processed, (unsigned long long)batches, (unsigned long long)first,
         (unsigned long long)last, (unsigned long long)cpu, (unsigned long long)overruns, (unsigned long long)unsent);
  close(fd);
  return 0;
}
