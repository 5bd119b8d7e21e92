/**
 * @file detail/file_io.hpp
 * @brief Read-only memory maps and all-or-nothing file writes (POSIX).
 */
#pragma once

#include <tensorhash/config.hpp>
#include <tensorhash/detail/map_guard.hpp>
#include <tensorhash/error.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

TENSORHASH_NAMESPACE_BEGIN
namespace detail {

/// A whole regular file mapped read-only; empty files map to no memory; a FIFO, device or
/// directory is refused at once. A file truncated while mapped does not kill the process with
/// SIGBUS (detail/map_guard.hpp): reads past its new end give zeros and changed() says so. No
/// file descriptor stays open (a checkpoint may have thousands of shards).
class mapped_file {
 public:
  explicit mapped_file(const std::string& path) : path_(path) {
    // The type is checked before opening: opening a FIFO with no writer waits forever, and
    // opening a device may act on it. fstat checks again what was opened.
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      throw error(errc::io_error, path + ": cannot open: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      throw error(errc::io_error, path + ": not a regular file");
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      throw error(errc::io_error, path + ": cannot open: " + std::strerror(err));
    }
    const auto fail = [&](const char* what, int err) {
      ::close(fd);
      throw error(errc::io_error, path + ": " + what + (err != 0 ? ": " : "") +
                                      (err != 0 ? std::strerror(err) : ""));
    };
    if (::fstat(fd, &st) != 0) {
      fail("cannot open", errno);
    }
    if (!S_ISREG(st.st_mode)) {  // replaced between the stat and the open
      fail("not a regular file", 0);
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    opened_ = st;
    if (char* real = ::realpath(path.c_str(), nullptr)) {  // stat-able after a chdir too
      path_ = real;
      std::free(real);
    }
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        fail("cannot map", errno);
      }
      data_ = static_cast<const std::uint8_t*>(p);
      try {
        guard_ = map_guard(data_, size_);
      } catch (...) {  // std::call_once without threads: nothing may leak
        ::munmap(p, size_);
        data_ = nullptr;
        ::close(fd);
        throw;
      }
    }
    ::close(fd);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  mapped_file(mapped_file&& o) noexcept
      : path_(std::move(o.path_)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        opened_(o.opened_),
        guard_(std::move(o.guard_)) {}
  mapped_file& operator=(mapped_file&& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(opened_, o.opened_);
    std::swap(guard_, o.guard_);
    return *this;
  }
  ~mapped_file() {
    guard_ = map_guard();  // released before the memory it names is unmapped
    if (data_ != nullptr) {
      ::munmap(const_cast<std::uint8_t*>(data_), size_);
    }
  }

  const std::uint8_t* data() const noexcept { return data_; }
  std::uint64_t size() const noexcept { return size_; }

  /// @return whether the file was truncated (a read past its new end gave zeros), or resized
  ///         or rewritten in place (its size, modification or change time moved) since it was
  ///         mapped: what was read from it may mix old and new bytes. A file replaced by
  ///         rename, or deleted, is not changed: the mapping keeps the old one, whole.
  bool changed() const noexcept {
    if (guard_.faulted()) {
      return true;
    }
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0 || st.st_dev != opened_.st_dev ||
        st.st_ino != opened_.st_ino) {
      return false;
    }
    const auto same = [](const struct timespec& a, const struct timespec& b) {
      return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
    };
    return st.st_size != opened_.st_size || !same(st.st_mtim, opened_.st_mtim) ||
           !same(st.st_ctim, opened_.st_ctim);
  }

  /// @throw error io_error "changed while being read" naming `path` when changed()
  void require_unchanged(const std::string& path) const {
    if (changed()) {
      throw error(errc::io_error, path +
                                      ": changed while being read (truncated or rewritten while "
                                      "it was hashed): nothing read from it is trusted; hash it "
                                      "again when nothing writes it");
    }
  }

 private:
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::uint64_t size_ = 0;
  struct stat opened_ {};  ///< what was opened: device, inode, size and times
  map_guard guard_;
};

/// @return the whole of a regular file's bytes, read through a mapping (no FIFO waits)
/// @throw error io_error naming `path`, "changed while being read" when it was truncated or
///        rewritten while it was copied
inline std::string read_whole_file(const std::string& path) {
  const mapped_file f(path);
  std::string text(reinterpret_cast<const char*>(f.data()), f.size());
  f.require_unchanged(path);
  return text;
}

/// The permission bits a new file gets from this process's umask, read from /proc (umask()
/// itself would change it, racing other threads); -1 where /proc does not say, and the
/// temporary file's own 0600 then stands.
inline int new_file_mode() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  int mode = -1;
  if (f != nullptr) {
    char line[256];
    unsigned mask = 0;
    while (std::fgets(line, sizeof line, f) != nullptr) {
      if (std::sscanf(line, "Umask: %o", &mask) == 1) {
        mode = static_cast<int>(0666 & ~mask);
        break;
      }
    }
    std::fclose(f);
  }
  return mode;
}

/// @throw error io_error when `path` exists and is not a regular file (a device, FIFO, socket
///        or directory): writing a file there would replace it
inline void require_writable_target(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    throw error(errc::io_error, path +
                                    ": exists and is not a regular file (a device, FIFO or "
                                    "directory): refusing to replace it; write to a file");
  }
}

/**
 * @brief Writes `contents` to `path` all or nothing: into a temporary file of its own (mkstemp:
 *        a unique name, created exclusively, in the target's directory, so a planted symlink
 *        is never followed and concurrent writers never share one), fsynced, renamed over
 *        `path`, and the directory fsynced. Readers see the old file or the whole new one; of
 *        two writers the last rename wins and both succeed. The file gets an existing target's
 *        permission bits, else the umask's (where the file system keeps them: FAT does not).
 * @throw error io_error naming the OS reason ("cannot write", "write failed", "cannot
 *        replace"); also when `path` exists and is not a regular file
 */
inline void write_file_atomically(const std::string& path, const std::string& contents) {
  require_writable_target(path);
  struct stat st {};
  const int mode =
      ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : new_file_mode();
  const std::string::size_type slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  std::string tmp = dir + "/.tensorhash-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    const int err = errno;
    throw error(errc::io_error, path + ": cannot write: " + std::strerror(err));
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
  if (mode >= 0) {
    (void)::fchmod(fd, static_cast<mode_t>(mode));  // best effort: FAT refuses the x/w bits
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
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d >= 0) {  // the rename itself on disk; best effort (some file systems refuse)
    (void)::fsync(d);
    ::close(d);
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
