/* From the 64-bit entry to guest_main: start_info, command line, memory map, paging. */
#include "runtime.h"

const struct hvm_start_info* start_info;

void idt_init(void);
void runtime_start(uint32_t start_info_paddr);

void runtime_start(uint32_t start_info_paddr) {
  const struct hvm_start_info* si = (const struct hvm_start_info*)(uintptr_t)start_info_paddr;
  idt_init();
  /* Mask both 8259 PICs: a firmware (or reset) vector base would alias their IRQs with
   * exception vectors, and the guests only use the LAPIC and the IOAPIC. */
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  if (!si || si->magic != HVM_START_MAGIC)
    guest_fail("bad hvm_start_info at %#x (magic %#x)", start_info_paddr, si ? si->magic : 0);
  start_info = si;
  guest_exit((uint32_t)guest_main(si));
}

/* ---- command line ---- */
const char* cmdline(void) {
  if (!start_info || !start_info->cmdline_paddr) return "";
  return (const char*)(uintptr_t)start_info->cmdline_paddr;
}

bool cmdline_find(const char* key, const char** val, size_t* len) {
  size_t klen = strlen(key);
  const char* p = cmdline();
  while (*p) {
    while (*p == ' ') p++;
    const char* word = p;
    while (*p && *p != ' ') p++;
    size_t wlen = (size_t)(p - word);
    if (wlen >= klen && memcmp(word, key, klen) == 0 && (wlen == klen || word[klen] == '=')) {
      *val = wlen == klen ? p : word + klen + 1;
      *len = wlen == klen ? 0 : wlen - klen - 1;
      return true;
    }
  }
  return false;
}

uint64_t cmdline_u64(const char* key, uint64_t dflt) {
  const char* v;
  size_t n;
  if (!cmdline_find(key, &v, &n)) return dflt;
  unsigned base = 10;
  size_t i = 0;
  if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    i = 2;
  }
  if (i == n) guest_fail("command line: %s needs a number", key);
  uint64_t r = 0;
  for (; i < n; i++) {
    char c = v[i];
    unsigned d;
    if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
    else guest_fail("command line: %s has a bad number", key);
    if (r > (UINT64_MAX - d) / base) guest_fail("command line: %s is too large", key);
    r = r * base + d;
  }
  return r;
}

bool cmdline_is(const char* key, const char* want) {
  const char* v;
  size_t n;
  return cmdline_find(key, &v, &n) && n == strlen(want) && memcmp(v, want, n) == 0;
}

/* ---- memory map ---- */
bool memmap_is_ram(uint64_t addr, uint64_t len) {
  if (!start_info || start_info->version < 1 || !start_info->memmap_paddr) return false;
  const struct hvm_memmap_entry* e =
      (const struct hvm_memmap_entry*)(uintptr_t)start_info->memmap_paddr;
  for (uint32_t i = 0; i < start_info->memmap_entries; i++)
    if (e[i].type == 1 && addr >= e[i].addr && addr + len <= e[i].addr + e[i].size &&
        addr + len >= addr)
      return true;
  return false;
}

/* ---- paging ---- */
extern uint64_t page_dirs[2048];

void paging_set_user(uint64_t addr, uint64_t len) {
  for (uint64_t a = addr & ~0x1fffffUL; a < addr + len; a += 0x200000) {
    if (a >= 0x100000000UL) guest_fail("paging_set_user: %#lx is above 4 GiB", a);
    page_dirs[a >> 21] |= 4; /* U/S */
  }
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}
