/* COM1 output (polled) and a small printf. */
#include "runtime.h"

#define LSR (COM1 + 5)
#define LSR_THRE 0x20

void serial_putc(char c) {
  while (!(inb(LSR) & LSR_THRE)) {
  }
  outb(COM1, (uint8_t)c);
}

void serial_write(const char* s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\n') serial_putc('\r');
    serial_putc(s[i]);
  }
}

struct out {
  char* buf;
  size_t size;
  size_t len;
};

static void put(struct out* o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len] = c;
  o->len++;
}

static void put_number(struct out* o, uint64_t v, unsigned base, bool upper, bool negative,
                       int width, char pad, bool left, const char* prefix) {
  char tmp[24];
  int n = 0;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    tmp[n++] = digits[v % base];
    v /= base;
  } while (v);
  int plen = (int)strlen(prefix) + (negative ? 1 : 0);
  int fill = width - n - plen;
  if (!left && pad == ' ')
    for (; fill > 0; fill--) put(o, ' ');
  if (negative) put(o, '-');
  for (const char* p = prefix; *p; p++) put(o, *p);
  if (!left && pad == '0')
    for (; fill > 0; fill--) put(o, '0');
  while (n) put(o, tmp[--n]);
  if (left)
    for (; fill > 0; fill--) put(o, ' ');
}

int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap) {
  struct out o = {buf, size, 0};
  for (const char* p = fmt; *p; p++) {
    if (*p != '%') {
      put(&o, *p);
      continue;
    }
    p++;
    bool left = false, alt = false;
    char pad = ' ';
    for (;; p++) {
      if (*p == '-') left = true;
      else if (*p == '0') pad = '0';
      else if (*p == '#') alt = true;
      else break;
    }
    int width = 0;
    while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    int longs = 0;
    while (*p == 'l' || *p == 'z') {
      longs += *p == 'z' ? 2 : 1;
      p++;
    }
    switch (*p) {
      case 'd':
      case 'i': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        put_number(&o, u, 10, false, v < 0, width, pad, left, "");
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
        unsigned base = *p == 'u' ? 10 : 16;
        put_number(&o, v, base, *p == 'X', false, width, pad, left,
                   alt && base == 16 ? "0x" : "");
        break;
      }
      case 'p':
        put_number(&o, (uint64_t)(uintptr_t)va_arg(ap, void*), 16, false, false, width, pad,
                   left, "0x");
        break;
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        int n = (int)strlen(s);
        if (!left)
          for (int i = n; i < width; i++) put(&o, ' ');
        for (int i = 0; i < n; i++) put(&o, s[i]);
        if (left)
          for (int i = n; i < width; i++) put(&o, ' ');
        break;
      }
      case 'c':
        put(&o, (char)va_arg(ap, int));
        break;
      case '%':
        put(&o, '%');
        break;
      case '\0':
        p--;
        break;
      default:
        put(&o, '%');
        put(&o, *p);
        break;
    }
  }
  if (size) buf[o.len < size ? o.len : size - 1] = '\0';
  return (int)o.len;
}

int snprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

static void vprintf(const char* fmt, va_list ap) {
  char buf[256];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  serial_write(buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
}

void printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}

void guest_exit(uint32_t v) {
  for (;;) {
    outl(EXIT_PORT, v);
    cli();
    __asm__ volatile("hlt");
  }
}

void guest_pass(void) {
  printf("PASS\n");
  guest_exit(0);
}

void guest_fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL: ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  guest_exit(1);
}
