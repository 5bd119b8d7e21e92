/**
 * @file detail/file_io.hpp
 * @brief Read-only memory maps and all-or-nothing file writes (POSIX).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/error.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// A whole regular file mapped read-only; empty files map to no memory; a FIFO, device or
/// directory is refused at once.
class mapped_file {
 public:
  explicit mapped_file(const std::string& path) {
    // Without blocking: a FIFO with no writer would wait forever before the check below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
      throw error(errc::io_error, path + ": cannot open: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw error(errc::io_error, path + ": not a regular file");
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        throw error(errc::io_error, path + ": cannot map: " + std::strerror(err));
      }
      data_ = static_cast<const std::uint8_t*>(p);
    }
    ::close(fd);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~mapped_file() {
    if (data_ != nullptr) {
      ::munmap(const_cast<std::uint8_t*>(data_), size_);
    }
  }

  const std::uint8_t* data() const noexcept { return data_; }
  std::uint64_t size() const noexcept { return size_; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
};

/// The permission bits a new file gets from this process's umask (read from /proc, since
/// umask() itself would change it, racing other threads); 0644 where /proc does not say.
inline mode_t new_file_mode() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  unsigned mask = 022;
  if (f != nullptr) {
    char line[256];
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "Umask: %o", &mask) == 1) {
        break;
      }
    }
    std::fclose(f);
  }
  return static_cast<mode_t>(0666 & ~mask);
}

/**
 * @brief Writes `contents` to `path` all or nothing: into a temporary file of its own (mkstemp:
 *        a unique name, created exclusively, in the target's directory, so a planted symlink
 *        is never followed and concurrent writers never share one), flushed to disk, then
 *        renamed over `path`. Readers see the old file or the whole new one; of two writers
 *        the last rename wins and both succeed.
 * @throw error io_error, naming the OS reason; also when `path` exists and is not a regular
 *        file (a device node, FIFO, socket or directory), which renaming would replace
 */
inline void write_file_atomically(const std::string& path, const std::string& contents) {
  struct stat st {};
  mode_t mode = new_file_mode();
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      throw error(errc::io_error, path +
                                      ": exists and is not a regular file (a device, FIFO or "
                                      "directory): refusing to replace it; write to a file");
    }
    mode = st.st_mode & 07777;  // a rewritten manifest keeps its permissions
  }
  const std::string::size_type slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  std::string tmp = dir + "/.tensorhash-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    throw error(errc::io_error, path + ": cannot write: " + std::strerror(errno));
  }
  const auto fail = [&](const char* what, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw error(errc::io_error, path + ": " + what + ": " + std::strerror(err));
  };
  for (std::size_t done = 0; done < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      fail("write failed", n < 0 ? errno : ENOSPC);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, mode) != 0) {
    fail("cannot set permissions", errno);
  }
  if (::fsync(fd) != 0) {
    fail("write failed", errno);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw error(errc::io_error, path + ": write failed: " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw error(errc::io_error, path + ": cannot replace: " + std::strerror(err));
  }
}

/// @return true when `a` and `b` name the same existing file (device and inode)
inline bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

}  // namespace detail
TENSORHASH_NAMESPACE_END
