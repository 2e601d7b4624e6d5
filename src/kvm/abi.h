// KVM ABI pieces that the C++ view of the kernel headers gets wrong.
//
// Debian's linux-libc-dev declares the variable-length arrays of kvm_cpuid2, kvm_msrs,
// kvm_msr_list and kvm_irq_routing with __DECLARE_FLEX_ARRAY, whose empty struct has
// size 1 in C++: the structs grow by padding, the arrays move, and the ioctl numbers
// (which encode sizeof) no longer match the kernel's. We use C-layout headers and our
// own numbers. (C++'s KVM_SET_GSI_ROUTING says 16 bytes, not 8: ENOTTY.)
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace vireo::kvm::abi {

struct CpuidHeader {  // struct kvm_cpuid2 without its entries
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {  // struct kvm_msrs without its entries
  uint32_t nmsrs;
  uint32_t pad;
};
struct MsrListHeader {  // struct kvm_msr_list without its indices
  uint32_t nmsrs;
};
struct IrqRoutingHeader {  // struct kvm_irq_routing without its entries
  uint32_t nr;
  uint32_t flags;
};

// struct kvm_xsave without its trailing flexible array (legacy area, header, first
// extended components: what KVM_GET_XSAVE/KVM_SET_XSAVE transfer).
struct Xsave {
  uint32_t region[1024];
  // Offsets in `region` (bytes): FXSAVE legacy area and XSAVE header.
  static constexpr size_t kMxcsrOffset = 24;
  static constexpr size_t kXstateBvOffset = 512;
  static constexpr uint64_t kXfeatureSse = 1u << 1;
};
static_assert(sizeof(Xsave) == 4096);

static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 && sizeof(MsrListHeader) == 4);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);
// The routing entries follow the 8-byte header directly (their alignment is 8).
static_assert(sizeof(IrqRoutingHeader) == 8 && sizeof(kvm_irq_routing_entry) == 48 &&
              alignof(kvm_irq_routing_entry) == 8);

inline constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, IrqRoutingHeader);
inline constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, Xsave);
inline constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, Xsave);
// KVM_GET_XSAVE2 (KVM_CAP_XSAVE2): like KVM_GET_XSAVE, into a buffer of the size the
// capability gives (at least 4096; more with AMX). KVM_SET_XSAVE then reads that size.
inline constexpr unsigned long kGetXsave2 = _IOR(KVMIO, 0xcf, Xsave);
inline constexpr unsigned long kGetCpuid2 = _IOWR(KVMIO, 0x91, CpuidHeader);

}  // namespace vireo::kvm::abi
