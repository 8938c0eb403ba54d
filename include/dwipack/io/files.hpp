#pragma once
// Resolution of config 'files' entries inside one subject folder.
#include <string>
#include <vector>

namespace dwipack::io {

struct ResolvedFiles {
  std::vector<std::string> files;   ///< full paths, in entry order; a pattern's matches sorted bytewise
  std::vector<std::string> missing; ///< entries (as written) that named no existing file
};

/// An entry containing '*' is a glob pattern (as in dwi_ml: '*' and '?' do not cross '/', '[...]'
/// classes, no '**' recursion, names starting with '.' are not matched by wildcards); its matches
/// are sorted bytewise (dwi_ml keeps os.scandir order, which is not reproducible). Other entries
/// are literal paths. Entries are joined to `subject_dir` unless absolute. A match is a regular
/// file or a TRX folder (is_trx_folder; a literal entry may end in '/', which is dropped).
ResolvedFiles resolve_entries(const std::string& subject_dir, const std::vector<std::string>& entries);

/// Python's os.path.splitext(path)[1]: the last '.'-suffix of the base name, leading dots ignored
/// ("" if none). dwi_ml and dipy decide file formats on it, case-sensitively.
std::string extension_of(const std::string& path);

/// dir/entry, or entry itself when it is absolute (os.path.join).
std::string join_path(const std::string& dir, const std::string& entry);

bool is_regular_file(const std::string& path);
bool is_directory(const std::string& path);
/// A folder whose name ends in ".trx": a TRX tractogram stored as a folder of arrays, which
/// counts as one input file wherever a tractogram is accepted.
bool is_trx_folder(const std::string& path);

} // namespace dwipack::io
