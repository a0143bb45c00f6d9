#ifndef SEMAPHORED_TESTS_FUZZ_BYTE_READER_H_
#define SEMAPHORED_TESTS_FUZZ_BYTE_READER_H_

// Reads small integers from fuzzer input; returns zeros once the input runs out.

#include <cstddef>
#include <cstdint>
#include <string>

namespace semaphored::fuzz {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // A value in [0, n), n >= 1.
  uint32_t Below(uint32_t n) { return n <= 256 ? Byte() % n : (Byte() << 8 | Byte()) % n; }
  // The rest of the input, at most `max` bytes.
  std::string Bytes(size_t max) {
    size_t n = std::min(max, size_ - std::min(pos_, size_));
    std::string out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace semaphored::fuzz

#endif  // SEMAPHORED_TESTS_FUZZ_BYTE_READER_H_
