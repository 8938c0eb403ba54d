#include "dwipack/h5/handle.hpp"

#include "dwipack/error.hpp"

namespace dwipack::h5 {

SilenceErrors::SilenceErrors() {
  H5Eget_auto2(H5E_DEFAULT, &old_func_, &old_data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}
SilenceErrors::~SilenceErrors() {
  H5Eset_auto2(H5E_DEFAULT, old_func_, old_data_);
}

namespace {
herr_t collect(unsigned /*n*/, const H5E_error2_t* err, void* client) {
  auto* text = static_cast<std::string*>(client);
  if (!text->empty()) *text += "; ";
  *text += err->desc ? err->desc : "?";
  if (err->func_name) {
    *text += " (";
    *text += err->func_name;
    *text += ")";
  }
  return 0;
}
} // namespace

std::string error_stack_text() {
  std::string text;
  // Walk from the API call down to the innermost cause.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.empty() ? "HDF5 reported an error without details" : text;
}

void check(herr_t status, const std::string& what) {
  if (status < 0) throw Error(what + ": " + error_stack_text());
}

hid_t check_id(hid_t id, const std::string& what) {
  if (id < 0) throw Error(what + ": " + error_stack_text());
  return id;
}

void Handle::close(const std::string& what) {
  if (id_ < 0) return;
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  check(H5Idec_ref(id), "closing " + what);
}

void Handle::reset() noexcept {
  if (id_ >= 0) {
    H5Idec_ref(id_);
    H5Eclear2(H5E_DEFAULT);
    id_ = H5I_INVALID_HID;
  }
}

} // namespace dwipack::h5
