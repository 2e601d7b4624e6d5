/* Shared between ring3.c (ring 0) and ring3_user.c (ring 3, in the .user page). */
#ifndef VIREO_GUEST_RING3_H
#define VIREO_GUEST_RING3_H

#include <stdint.h>

enum ring3_return { RET_SYSCALL, RET_INT80, RET_UD2 };

struct ring3_job {
  uint64_t* buf;  /* user pages */
  uint64_t words;
  int how;        /* enum ring3_return */
  uint64_t checksum;
};

/* In the .user page. */
extern struct ring3_job ring3_job;
extern uint8_t ring3_stack[16384];
void ring3_checksum(uint64_t unused); /* fills and checksums ring3_job.buf */
void ring3_peek(uint64_t addr);       /* reads addr (expected to fault) */

#endif
