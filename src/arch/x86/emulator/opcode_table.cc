#include "arch/x86/emulator/opcode_table.h"

#include <array>

namespace vireo::arch::x86::emu::detail {

namespace {

using Table = std::array<OpInfo, 256>;

constexpr void set(Table& t, int first, int last, uint8_t flags, Imm imm = Imm::kNone) {
  for (int i = first; i <= last; ++i) t[i] = OpInfo{flags, imm};
}
constexpr void set1(Table& t, int op, uint8_t flags, Imm imm = Imm::kNone) {
  t[op] = OpInfo{flags, imm};
}

constexpr Table make_primary() {
  Table t{};
  // ADD OR ADC SBB AND SUB XOR CMP: Eb,Gb Ev,Gv Gb,Eb Gv,Ev AL,Ib eAX,Iz
  for (int base = 0x00; base <= 0x38; base += 8) {
    set(t, base, base + 3, kModrm);
    set1(t, base + 4, 0, Imm::kB);
    set1(t, base + 5, 0, Imm::kZ);
  }
  for (int op : {0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f})
    set1(t, op, kInvalid64);  // PUSH/POP seg, DAA DAS AAA AAS
  for (int op : {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3})
    set1(t, op, 0);  // prefixes (consumed before the table is consulted)
  set1(t, 0x0f, 0);  // two-byte escape
  set(t, 0x40, 0x4f, 0);                  // INC/DEC (REX in 64-bit mode)
  set(t, 0x50, 0x5f, kDefault64);         // PUSH/POP r
  set(t, 0x60, 0x61, kInvalid64);         // PUSHA POPA
  set1(t, 0x62, kModrm | kInvalid64);     // BOUND (EVEX handled by the decoder)
  set1(t, 0x63, kModrm);                  // ARPL / MOVSXD
  set1(t, 0x68, kDefault64, Imm::kZ);     // PUSH Iz
  set1(t, 0x69, kModrm, Imm::kZ);         // IMUL Gv,Ev,Iz
  set1(t, 0x6a, kDefault64, Imm::kB);     // PUSH Ib
  set1(t, 0x6b, kModrm, Imm::kB);         // IMUL Gv,Ev,Ib
  set(t, 0x6c, 0x6f, 0);                  // INS OUTS
  set(t, 0x70, 0x7f, kForce64, Imm::kJb); // Jcc rel8
  set1(t, 0x80, kModrm, Imm::kB);
  set1(t, 0x81, kModrm, Imm::kZ);
  set1(t, 0x82, kModrm | kInvalid64, Imm::kB);
  set1(t, 0x83, kModrm, Imm::kB);
  set(t, 0x84, 0x8e, kModrm);             // TEST XCHG MOV LEA MOV Sreg
  set1(t, 0x8f, kModrm | kDefault64);     // POP Ev (XOP handled by the decoder)
  set(t, 0x90, 0x99, 0);                  // XCHG/NOP CBW CWD
  set1(t, 0x9a, kInvalid64, Imm::kAp);    // CALL far
  set1(t, 0x9b, 0);                       // FWAIT
  set(t, 0x9c, 0x9d, kDefault64);         // PUSHF POPF
  set(t, 0x9e, 0x9f, 0);                  // SAHF LAHF
  set(t, 0xa0, 0xa3, 0, Imm::kMoffs);     // MOV AL/eAX <-> moffs
  set(t, 0xa4, 0xa7, 0);                  // MOVS CMPS
  set1(t, 0xa8, 0, Imm::kB);              // TEST AL,Ib
  set1(t, 0xa9, 0, Imm::kZ);              // TEST eAX,Iz
  set(t, 0xaa, 0xaf, 0);                  // STOS LODS SCAS
  set(t, 0xb0, 0xb7, 0, Imm::kB);         // MOV r8,Ib
  set(t, 0xb8, 0xbf, 0, Imm::kV);         // MOV r,Iv
  set(t, 0xc0, 0xc1, kModrm, Imm::kB);    // shift group 2, Ib
  set1(t, 0xc2, kForce64, Imm::kW);       // RET Iw
  set1(t, 0xc3, kForce64);                // RET
  set(t, 0xc4, 0xc5, kModrm | kInvalid64);  // LES LDS (VEX handled by the decoder)
  set1(t, 0xc6, kModrm, Imm::kB);         // MOV Eb,Ib / XABORT
  set1(t, 0xc7, kModrm, Imm::kZ);         // MOV Ev,Iz / XBEGIN
  set1(t, 0xc8, kDefault64, Imm::kWB);    // ENTER
  set1(t, 0xc9, kDefault64);              // LEAVE
  set1(t, 0xca, 0, Imm::kW);              // RETF Iw
  set(t, 0xcb, 0xcc, 0);                  // RETF INT3
  set1(t, 0xcd, 0, Imm::kB);              // INT Ib
  set1(t, 0xce, kInvalid64);              // INTO
  set1(t, 0xcf, 0);                       // IRET
  set(t, 0xd0, 0xd3, kModrm);             // shift group 2, 1/CL
  set(t, 0xd4, 0xd5, kInvalid64, Imm::kB);  // AAM AAD
  set1(t, 0xd6, kInvalid64);              // SALC
  set1(t, 0xd7, 0);                       // XLAT
  set(t, 0xd8, 0xdf, kModrm);             // x87
  set(t, 0xe0, 0xe3, kForce64, Imm::kJb); // LOOPNE LOOPE LOOP JrCXZ
  set(t, 0xe4, 0xe7, 0, Imm::kB);         // IN OUT imm8
  set(t, 0xe8, 0xe9, kForce64, Imm::kJz); // CALL JMP rel
  set1(t, 0xea, kInvalid64, Imm::kAp);    // JMP far
  set1(t, 0xeb, kForce64, Imm::kJb);      // JMP rel8
  set(t, 0xec, 0xef, 0);                  // IN OUT dx
  set1(t, 0xf1, 0);                       // INT1
  set(t, 0xf4, 0xf5, 0);                  // HLT CMC
  set1(t, 0xf6, kModrm, Imm::kGroup3B);
  set1(t, 0xf7, kModrm, Imm::kGroup3Z);
  set(t, 0xf8, 0xfd, 0);                  // CLC STC CLI STI CLD STD
  set(t, 0xfe, 0xff, kModrm);             // group 4, group 5
  return t;
}

constexpr Table make_0f() {
  Table t{};
  set(t, 0x00, 0x03, kModrm);      // group 6, group 7, LAR, LSL
  set(t, 0x05, 0x09, 0);           // SYSCALL CLTS SYSRET INVD WBINVD
  set1(t, 0x0b, 0);                // UD2
  set1(t, 0x0d, kModrm);           // PREFETCH/PREFETCHW
  set1(t, 0x0e, 0);                // FEMMS
  set1(t, 0x0f, kModrm, Imm::kB);  // 3DNow! (the immediate is the opcode suffix)
  set(t, 0x10, 0x1f, kModrm);      // SSE moves, prefetch hints, NOP Ev
  set(t, 0x20, 0x23, kModrm | kModIsReg);  // MOV CRn/DRn
  set(t, 0x28, 0x2f, kModrm);
  set(t, 0x30, 0x35, 0);           // WRMSR RDTSC RDMSR RDPMC SYSENTER SYSEXIT
  set1(t, 0x37, 0);                // GETSEC
  set(t, 0x40, 0x4f, kModrm);      // CMOVcc
  set(t, 0x50, 0x6f, kModrm);
  set(t, 0x70, 0x73, kModrm, Imm::kB);  // PSHUF*, shift groups 12-14
  set(t, 0x74, 0x76, kModrm);
  set1(t, 0x77, 0);                // EMMS
  set(t, 0x78, 0x79, kModrm);      // VMREAD VMWRITE (66/F2 forms: the decoder)
  set(t, 0x7c, 0x7f, kModrm);
  set(t, 0x80, 0x8f, kForce64, Imm::kJz);  // Jcc rel
  set(t, 0x90, 0x9f, kModrm);      // SETcc
  set(t, 0xa0, 0xa1, kDefault64);  // PUSH/POP FS
  set1(t, 0xa2, 0);                // CPUID
  set1(t, 0xa3, kModrm);           // BT
  set1(t, 0xa4, kModrm, Imm::kB);  // SHLD Ib
  set1(t, 0xa5, kModrm);           // SHLD CL
  set(t, 0xa8, 0xa9, kDefault64);  // PUSH/POP GS
  set1(t, 0xaa, 0);                // RSM
  set1(t, 0xab, kModrm);           // BTS
  set1(t, 0xac, kModrm, Imm::kB);  // SHRD Ib
  set(t, 0xad, 0xaf, kModrm);      // SHRD CL, group 15, IMUL
  set(t, 0xb0, 0xb9, kModrm);      // CMPXCHG LSS BTR LFS LGS MOVZX POPCNT UD1
  set1(t, 0xba, kModrm, Imm::kB);  // group 8
  set(t, 0xbb, 0xc1, kModrm);      // BTC BSF BSR MOVSX XADD
  set1(t, 0xc2, kModrm, Imm::kB);  // CMPPS
  set1(t, 0xc3, kModrm);           // MOVNTI
  set(t, 0xc4, 0xc6, kModrm, Imm::kB);  // PINSRW PEXTRW SHUFPS
  set1(t, 0xc7, kModrm);           // group 9
  set(t, 0xc8, 0xcf, 0);           // BSWAP
  set(t, 0xd0, 0xff, kModrm);      // MMX/SSE, UD0
  return t;
}

constexpr Table kPrimary = make_primary();
constexpr Table k0F = make_0f();

}  // namespace

const OpInfo& primary_op(uint8_t opcode) { return kPrimary[opcode]; }
const OpInfo& map0f_op(uint8_t opcode) { return k0F[opcode]; }

}  // namespace vireo::arch::x86::emu::detail
