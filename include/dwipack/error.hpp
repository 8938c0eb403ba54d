#pragma once
// The one exception type of dwipack. Thrown at the lowest level with the specific fact
// ("header 'dim[0]' is 2, expected 3 or 4"), then each layer that knows more adds a context
// frame while the error travels up ("subject 'sub-01'", "group 'dwi'", "file 'dwi/dwi.nii.gz'").
// what() reads outermost frame first: "subject 'sub-01': group 'dwi': file '...': header ...".
#include <stdexcept>
#include <string>
#include <vector>

namespace dwipack {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message) : std::runtime_error(message), frames_{message} {}

  /// A new error that wraps `inner` with one more (outer) context frame.
  Error(const Error& inner, const std::string& context)
      : std::runtime_error(context + ": " + inner.what()), frames_(inner.frames_) {
    frames_.insert(frames_.begin(), context);
  }

  /// Frames from outermost context to the innermost fact.
  const std::vector<std::string>& frames() const noexcept { return frames_; }

private:
  std::vector<std::string> frames_;
};

/// Quote a name for a message: 'name'. A function object rather than a function, so that
/// argument-dependent lookup never picks std::quoted for a std::string argument.
struct Quoter {
  std::string operator()(const std::string& name) const { return "'" + name + "'"; }
};
inline constexpr Quoter quoted{};

/// Run `body`; if it throws Error, rethrow it with `context` added as the outer frame.
template <class Body> decltype(auto) with_context(const std::string& context, Body&& body) {
  try {
    return body();
  } catch (const Error& e) {
    throw Error(e, context);
  }
}

} // namespace dwipack
