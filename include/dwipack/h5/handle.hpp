#pragma once
// Move-only ownership of HDF5 ids (one owner, obvious lifetime), and checked calls that turn the
// HDF5 error stack into an Error message instead of printing it on every rank.
// No raw hid_t leaves the h5/ module except through Handle::id() for calls made inside h5/.
#include <hdf5.h>

#include <string>
#include <utility>

namespace dwipack::h5 {

/// Turn off HDF5's automatic error printing for the lifetime of the guard (main owns one).
class SilenceErrors {
public:
  SilenceErrors();
  ~SilenceErrors();
  SilenceErrors(const SilenceErrors&) = delete;
  SilenceErrors& operator=(const SilenceErrors&) = delete;

private:
  H5E_auto2_t old_func_ = nullptr;
  void* old_data_ = nullptr;
};

/// The HDF5 error stack of this thread as one line ("major: minor (function); ..."), innermost last.
std::string error_stack_text();

/// Throw Error("<what>: <HDF5 stack>") if status < 0.
void check(herr_t status, const std::string& what);
/// Throw Error if id < 0; otherwise return it.
hid_t check_id(hid_t id, const std::string& what);

/// Owns one hid_t of any kind and closes it with H5Idec_ref. Destruction never throws; close()
/// does, because a failed H5Fclose/H5Dclose can mean data that never reached the disk.
class Handle {
public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t id() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }
  /// Close now; throws Error naming `what` if HDF5 reports a failure.
  void close(const std::string& what);
  /// Stop owning the id without closing it (objects of a parallel file that must not be closed
  /// outside a collective call). Returns the id.
  hid_t release() noexcept { return std::exchange(id_, H5I_INVALID_HID); }

private:
  void reset() noexcept;
  hid_t id_ = H5I_INVALID_HID;
};

} // namespace dwipack::h5
