// A small MD5 (RFC 1321) for tests that compare decoded masks with checksums
// produced by the Python reference. Not for security.
#ifndef SAM2_DATA_CODECS_MD5_FOR_TEST_H_
#define SAM2_DATA_CODECS_MD5_FOR_TEST_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace sam2::data {

// Lower-case hex digest of `size` bytes.
std::string Md5Hex(const uint8_t* bytes, size_t size);

}  // namespace sam2::data

#endif  // SAM2_DATA_CODECS_MD5_FOR_TEST_H_
