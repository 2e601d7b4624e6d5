// Constants of the virtio 1.2 specification (OASIS virtio-v1.2-cs01) that vireo uses.
// Section numbers refer to that document.
#pragma once

#include <cstdint>

namespace vireo::virtio {

// 2.1 Device status field.
namespace status {
inline constexpr uint8_t kAcknowledge = 1;
inline constexpr uint8_t kDriver = 2;
inline constexpr uint8_t kDriverOk = 4;
inline constexpr uint8_t kFeaturesOk = 8;
inline constexpr uint8_t kDeviceNeedsReset = 64;
inline constexpr uint8_t kFailed = 128;
}  // namespace status

// 6 Reserved feature bits (device-independent).
namespace feature {
inline constexpr unsigned kIndirectDesc = 28;  // VIRTIO_F_INDIRECT_DESC
inline constexpr unsigned kEventIdx = 29;      // VIRTIO_F_EVENT_IDX
inline constexpr unsigned kVersion1 = 32;      // VIRTIO_F_VERSION_1
inline constexpr unsigned kAccessPlatform = 33;
inline constexpr unsigned kRingPacked = 34;
inline constexpr unsigned kInOrder = 35;
inline constexpr unsigned kNotificationData = 38;
constexpr uint64_t bit(unsigned b) { return uint64_t{1} << b; }
}  // namespace feature

// 2.7 Split virtqueues.
namespace split {
inline constexpr uint16_t kDescNext = 1;      // VIRTQ_DESC_F_NEXT
inline constexpr uint16_t kDescWrite = 2;     // VIRTQ_DESC_F_WRITE (device writes)
inline constexpr uint16_t kDescIndirect = 4;  // VIRTQ_DESC_F_INDIRECT
inline constexpr uint16_t kAvailNoInterrupt = 1;  // VIRTQ_AVAIL_F_NO_INTERRUPT
inline constexpr uint16_t kUsedNoNotify = 1;      // VIRTQ_USED_F_NO_NOTIFY
inline constexpr uint64_t kDescSize = 16;      // struct virtq_desc
inline constexpr uint64_t kUsedElemSize = 8;   // struct virtq_used_elem
inline constexpr uint16_t kMaxSize = 32768;    // queue size limit (2.7)
// Alignment of the three areas (2.7, table "Virtqueue Part Alignment").
inline constexpr uint64_t kDescAlign = 16, kAvailAlign = 2, kUsedAlign = 4;
// Sizes of the areas for a queue of `n` entries, with the event fields (always counted:
// a driver allocates them whether or not EVENT_IDX is negotiated).
constexpr uint64_t desc_bytes(uint16_t n) { return kDescSize * n; }
constexpr uint64_t avail_bytes(uint16_t n) { return 6 + 2 * uint64_t{n}; }
constexpr uint64_t used_bytes(uint16_t n) { return 6 + kUsedElemSize * n; }
}  // namespace split

// 5 Device types (the virtio device IDs).
namespace device_id {
inline constexpr uint32_t kNet = 1;
inline constexpr uint32_t kBlock = 2;
inline constexpr uint32_t kConsole = 3;
inline constexpr uint32_t kEntropy = 4;
inline constexpr uint32_t kBalloon = 5;
inline constexpr uint32_t kVsock = 19;
}  // namespace device_id

}  // namespace vireo::virtio
