/*
 * Ring 3: fills a `mb=N` MiB buffer (default 64) with the deterministic pattern of
 * common/checksum.h and checksums it, all in ring 3 (native speed even where ring 0 is
 * emulated), then back in ring 0 prints
 *   ring3: checksum=0x<16 hex digits> bytes=<n> cycles=<TSC cycles spent in ring 3>
 * and PASS (if `expect=0x...` is given, the checksum must match it). Also checks that
 * ring 3 cannot read a supervisor page (#PF with error code U|P = 5).
 * enter=iretq|sysretq (default iretq) and ret=int80|ud2|syscall (default int80) choose how
 * to get into and out of ring 3. With ret=syscall it also checks everything SYSCALL must
 * do (RCX = the next instruction, R11 = the user RFLAGS, RFLAGS masked by SFMASK, CS/SS
 * from STAR, RSP untouched), which on nested KVM without VT-x only holds because vireo
 * completes the SYSCALL (see README.md).
 */
#include "checksum.h"
#include "ring3.h"
#include "runtime.h"

#define MIB (1ULL << 20)
#define PAGE_2M 0x200000ULL

static volatile uint64_t pf_error, pf_addr, pf_rip, pf_cs, pf_ss, pf_rflags;
static volatile unsigned pf_count;

static void on_user_pf(struct trap_frame* f) {
  if ((f->cs & 3) != 3) {
    printf("ring3: #PF in ring 0 at rip %#lx, cr2 %#lx, error %#lx\n", f->rip, read_cr2(),
           f->error);
    guest_fail("page fault in ring 0");
  }
  pf_error = f->error;
  pf_addr = read_cr2();
  pf_rip = f->rip;
  pf_cs = f->cs;
  pf_ss = f->ss;
  pf_rflags = f->rflags;
  pf_count++;
  user_abort(USER_FAULT_BASE | 14);
}

static const char* value_of(const char* key, const char* dflt, char* buf, size_t size) {
  const char* v;
  size_t n;
  if (!cmdline_find(key, &v, &n)) return dflt;
  if (n >= size) n = size - 1;
  memcpy(buf, v, n);
  buf[n] = '\0';
  return buf;
}

int guest_main(const struct hvm_start_info* si) {
  printf("ring3: guest (checksum in ring 3)\n");
  uint64_t mb = cmdline_u64("mb", 64);
  char ebuf[16], rbuf[16];
  const char* enter = value_of("enter", "iretq", ebuf, sizeof ebuf);
  const char* ret = value_of("ret", "int80", rbuf, sizeof rbuf);
  enum user_entry how_in;
  if (!strcmp(enter, "iretq")) how_in = USER_ENTER_IRETQ;
  else if (!strcmp(enter, "sysretq")) how_in = USER_ENTER_SYSRETQ;
  else guest_fail("enter=%s: want iretq or sysretq", enter);
  int how_out;
  if (!strcmp(ret, "syscall")) how_out = RET_SYSCALL;
  else if (!strcmp(ret, "int80")) how_out = RET_INT80;
  else if (!strcmp(ret, "ud2")) how_out = RET_UD2;
  else guest_fail("ret=%s: want syscall, int80 or ud2", ret);

  /* The buffer starts at the first 2 MiB page after the image and must be RAM below
   * the 32-bit MMIO hole (the identity map covers 4 GiB). */
  uint64_t buf = ((uint64_t)(uintptr_t)__image_end + PAGE_2M - 1) & ~(PAGE_2M - 1);
  uint64_t bytes = mb * MIB;
  GUEST_CHECK(mb >= 1 && mb <= 3072, "mb=%lu out of range (1..3072)", mb);
  GUEST_CHECK(si->version >= 1 && si->memmap_paddr && si->memmap_entries,
              "no memory map in hvm_start_info (version %u)", si->version);
  GUEST_CHECK(buf + bytes <= PF_HOLE_ADDR && memmap_is_ram(buf, bytes),
              "mb=%lu: [%#lx, %#lx) is not RAM (give the VM more memory)", mb, buf, buf + bytes);

  user_init();
  paging_set_user((uint64_t)(uintptr_t)__user_start,
                  (uint64_t)(uintptr_t)(__user_end - __user_start));
  paging_set_user(buf, bytes);
  trap_set_handler(14, on_user_pf);

  ring3_job.buf = (uint64_t*)(uintptr_t)buf;
  ring3_job.words = bytes / 8;
  ring3_job.how = how_out;

  /* Supervisor pages are out of reach from ring 3. */
  uint64_t probe = (uint64_t)(uintptr_t)&start_info;
  uint64_t r = user_run(ring3_peek, probe, ring3_stack + sizeof ring3_stack, how_in);
  GUEST_CHECK(r == (USER_FAULT_BASE | 14) && pf_count == 1,
              "ring 3 read supervisor memory at %#lx (got %#lx)", probe, r);
  GUEST_CHECK(pf_error == 5 && pf_addr == probe,
              "ring-3 #PF: error %#lx cr2 %#lx, want 0x5 and %#lx", pf_error, pf_addr, probe);
  printf("ring3: supervisor page %#lx protected from ring 3 (#PF error %#lx)\n", probe,
         pf_error);

  uint64_t t0 = rdtsc();
  r = user_run(ring3_checksum, 0, ring3_stack + sizeof ring3_stack, how_in);
  uint64_t cycles = rdtsc() - t0;
  if (r == (USER_FAULT_BASE | 14))
    printf("ring3: unexpected ring-3 #PF: rip %#lx cs %#lx ss %#lx rflags %#lx cr2 %#lx "
           "error %#lx\n", pf_rip, pf_cs, pf_ss, pf_rflags, pf_addr, pf_error);
  GUEST_CHECK(r == ring3_job.checksum, "ring 3 returned %#lx, but stored checksum %#lx", r,
              ring3_job.checksum);
  if (how_out == RET_SYSCALL) {
    volatile struct user_syscall_state* st = &user_syscall_state;
    uint64_t ustart = (uint64_t)(uintptr_t)__user_start, uend = (uint64_t)(uintptr_t)__user_end;
    uint64_t stack_lo = (uint64_t)(uintptr_t)ring3_stack;
    GUEST_CHECK(st->rcx > ustart + 2 && st->rcx <= uend &&
                *(const uint16_t*)(uintptr_t)(st->rcx - 2) == 0x050f,
                "syscall: RCX %#lx does not follow a syscall instruction", st->rcx);
    GUEST_CHECK((st->r11 & 0x202) == 0x202, "syscall: R11 %#lx is not the user RFLAGS", st->r11);
    GUEST_CHECK((st->rflags & 0x47700) == 0 && (st->rflags & 2),
                "syscall: RFLAGS %#lx at LSTAR not masked by SFMASK", st->rflags);
    GUEST_CHECK(st->cs == KERNEL_CS && st->ss == KERNEL_CS + 8,
                "syscall: CS %#lx SS %#lx at LSTAR, want %#x and %#x", st->cs, st->ss, KERNEL_CS,
                KERNEL_CS + 8);
    GUEST_CHECK(st->rsp > stack_lo && st->rsp <= stack_lo + sizeof ring3_stack,
                "syscall: RSP %#lx is not the ring-3 stack", st->rsp);
    printf("ring3: syscall state ok: rcx %#lx r11 %#lx rflags %#lx cs %#lx ss %#lx\n", st->rcx,
           st->r11, st->rflags, st->cs, st->ss);
  }
  printf("ring3: entered with %s, left with %s\n", enter, ret);
  printf("ring3: checksum=0x%016lx bytes=%lu cycles=%lu\n", r, bytes, cycles);
  uint64_t want = cmdline_u64("expect", 0);
  GUEST_CHECK(!want || want == r, "checksum 0x%016lx, expected 0x%016lx", r, want);
  guest_pass();
}
