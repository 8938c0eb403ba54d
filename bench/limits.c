/* The machine's limits, measured on the benchmark's own files (issue 7), for bench/run.sh.
 *
 *   limits [--reps N] [--write-mb MB] [--write-dir DIR] [--trk FILE]... FILE.nii.gz...
 *
 * Prints one JSON object:
 *  - decode: single-core libdeflate gzip decompression of every FILE.nii.gz, whole buffer to whole
 *    buffer (the fastest way to inflate these files on one core: the volume path's ceiling). Files
 *    are read into memory first (not timed); one untimed pass sizes and pre-faults the output
 *    buffer; then N timed passes over all files; the median pass is reported. Rates are in bytes of
 *    uncompressed output per second, wall and per CPU second of this thread.
 *  - memcpy: a 1 GiB memcpy between pre-faulted buffers, best of N.
 *  - write: a sequential write of MB MiB in 4 MiB blocks to a new file in DIR, then fsync: the rate
 *    into the page cache (writes only) and to the disk (writes + fsync); then the same at once
 *    without fsync (the page cache reuses the pages just freed: on a VM that hands freed memory
 *    back to the host, fresh pages cost far more than recycled ones), and with O_DIRECT + fsync
 *    (no page cache). The file is removed after each pass.
 *  - trk: a minimal single-core .trk walk of each --trk file (header, then per streamline: copy the
 *    points, scale voxmm to voxel, accumulate the euclidean length): the parse floor the streamline
 *    path is compared with. Files are read into memory first (not timed); median of N passes.
 *
 * Build: cc -O2 -o limits limits.c -ldeflate
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char* what, const char* path) {
  fprintf(stderr, "limits: %s%s%s: %s\n", what, path ? " " : "", path ? path : "", strerror(errno));
  exit(1);
}

static void* xmalloc(size_t n) {
  void* p = malloc(n ? n : 1);
  if (!p) die("out of memory", NULL);
  return p;
}

/* Reads a whole file into a new buffer. */
static unsigned char* slurp(const char* path, size_t* size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) die("cannot stat", path);
  unsigned char* buf = xmalloc((size_t)st.st_size);
  size_t done = 0;
  while (done < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);
    if (n <= 0) die("cannot read", path);
    done += (size_t)n;
  }
  close(fd);
  *size = done;
  return buf;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Inflates every gzip member of in[0..in_size) into out[0..cap); returns the output size, or
 * SIZE_MAX when `cap` is too small. */
static size_t gunzip(struct libdeflate_decompressor* d, const unsigned char* in, size_t in_size,
                     unsigned char* out, size_t cap, const char* path) {
  size_t in_pos = 0, out_pos = 0;
  while (in_pos < in_size) {
    size_t used_in = 0, made = 0;
    enum libdeflate_result r = libdeflate_gzip_decompress_ex(d, in + in_pos, in_size - in_pos, out + out_pos,
                                                             cap - out_pos, &used_in, &made);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) return SIZE_MAX;
    if (r != LIBDEFLATE_SUCCESS) {
      fprintf(stderr, "limits: %s: not a valid gzip stream (libdeflate error %d)\n", path, (int)r);
      exit(1);
    }
    in_pos += used_in;
    out_pos += made;
  }
  return out_pos;
}

/* ------------------------------------------------------------------------------------ .trk */

/* One walk over an in-memory TrackVis file; returns the number of points (and the summed length,
 * so the compiler cannot drop the work). */
static int64_t trk_walk(const unsigned char* buf, size_t size, float* points, double* total_length,
                        int64_t* streamlines, const char* path) {
  if (size < 1000) {
    fprintf(stderr, "limits: %s: too small for a .trk\n", path);
    exit(1);
  }
  int16_t n_scalars, n_props;
  float vs[3];
  memcpy(vs, buf + 12, sizeof vs);
  memcpy(&n_scalars, buf + 36, 2);
  memcpy(&n_props, buf + 238, 2);
  const float inv[3] = {1.0f / vs[0], 1.0f / vs[1], 1.0f / vs[2]};
  const size_t stride = 3 + (size_t)n_scalars;
  size_t pos = 1000;
  int64_t n_points = 0, n_streamlines = 0;
  double length = 0;
  while (pos + 4 <= size) {
    int32_t m;
    memcpy(&m, buf + pos, 4);
    pos += 4;
    const size_t bytes = (size_t)m * stride * 4;
    if (m < 0 || pos + bytes + 4 * (size_t)n_props > size) {
      fprintf(stderr, "limits: %s: truncated .trk\n", path);
      exit(1);
    }
    const float* src = (const float*)(const void*)(buf + pos);
    float* dst = points;
    for (int32_t i = 0; i < m; ++i) { /* copy + voxmm -> voxel, as a converter must */
      dst[3 * i + 0] = src[stride * i + 0] * inv[0];
      dst[3 * i + 1] = src[stride * i + 1] * inv[1];
      dst[3 * i + 2] = src[stride * i + 2] * inv[2];
    }
    float l = 0;
    for (int32_t i = 1; i < m; ++i) {
      const float dx = src[stride * i] - src[stride * (i - 1)];
      const float dy = src[stride * i + 1] - src[stride * (i - 1) + 1];
      const float dz = src[stride * i + 2] - src[stride * (i - 1) + 2];
      l += sqrtf(dx * dx + dy * dy + dz * dz);
    }
    length += l;
    points += 3 * (size_t)m;
    n_points += m;
    ++n_streamlines;
    pos += bytes + 4 * (size_t)n_props;
  }
  *total_length = length;
  *streamlines = n_streamlines;
  return n_points;
}

/* ------------------------------------------------------------------------------------ main */

int main(int argc, char** argv) {
  int reps = 3;
  long write_mb = 1024;
  const char* write_dir = ".";
  const char* gz[4096];
  const char* trk[4096];
  int n_gz = 0, n_trk = 0;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--write-mb") && i + 1 < argc) write_mb = atol(argv[++i]);
    else if (!strcmp(argv[i], "--write-dir") && i + 1 < argc) write_dir = argv[++i];
    else if (!strcmp(argv[i], "--trk") && i + 1 < argc && n_trk < 4096) trk[n_trk++] = argv[++i];
    else if (argv[i][0] != '-' && n_gz < 4096) gz[n_gz++] = argv[i];
    else {
      fprintf(stderr, "usage: limits [--reps N] [--write-mb MB] [--write-dir DIR] [--trk FILE]... FILE.nii.gz...\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  double* times = xmalloc(sizeof(double) * (size_t)reps);
  double* cpu_times = xmalloc(sizeof(double) * (size_t)reps);
  printf("{");

  /* ---- decode */
  {
    unsigned char** in = xmalloc(sizeof(unsigned char*) * (size_t)(n_gz ? n_gz : 1));
    size_t* in_size = xmalloc(sizeof(size_t) * (size_t)(n_gz ? n_gz : 1));
    size_t* out_size = xmalloc(sizeof(size_t) * (size_t)(n_gz ? n_gz : 1));
    size_t cap = 1 << 20, total_in = 0, total_out = 0;
    for (int f = 0; f < n_gz; ++f) in[f] = slurp(gz[f], &in_size[f]);
    struct libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    unsigned char* out = xmalloc(cap);
    /* untimed pass: find each output size, grow (and pre-fault) the one reused output buffer */
    for (int f = 0; f < n_gz; ++f) {
      size_t n;
      while ((n = gunzip(d, in[f], in_size[f], out, cap, gz[f])) == SIZE_MAX) {
        free(out);
        cap *= 2;
        out = xmalloc(cap);
        memset(out, 0, cap);
      }
      out_size[f] = n;
      total_in += in_size[f];
      total_out += n;
    }
    for (int r = 0; r < reps; ++r) {
      const double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
      for (int f = 0; f < n_gz; ++f)
        if (gunzip(d, in[f], in_size[f], out, cap, gz[f]) != out_size[f]) {
          fprintf(stderr, "limits: %s: output size changed between passes\n", gz[f]);
          return 1;
        }
      times[r] = now(CLOCK_MONOTONIC) - t0;
      cpu_times[r] = now(CLOCK_THREAD_CPUTIME_ID) - c0;
    }
    const double t = median(times, reps), c = median(cpu_times, reps);
    printf("\"decode\": {\"files\": %d, \"in_bytes\": %zu, \"out_bytes\": %zu, \"seconds\": %.6f, "
           "\"cpu_seconds\": %.6f, \"gb_per_s\": %.4f, \"cpu_gb_per_s\": %.4f, \"passes\": %d}",
           n_gz, total_in, total_out, t, c, t > 0 ? (double)total_out / t / 1e9 : 0.0,
           c > 0 ? (double)total_out / c / 1e9 : 0.0, reps);
    libdeflate_free_decompressor(d);
    free(out);
    for (int f = 0; f < n_gz; ++f) free(in[f]);
    free(in);
    free(in_size);
    free(out_size);
  }

  /* ---- memcpy */
  {
    const size_t n = (size_t)1 << 30;
    unsigned char* a = xmalloc(n);
    unsigned char* b = xmalloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      const double t0 = now(CLOCK_MONOTONIC);
      memcpy(b, a, n);
      const double t = now(CLOCK_MONOTONIC) - t0;
      if (t < best) best = t;
      a[r] = b[n - 1 - (size_t)r]; /* keep the copies observable */
    }
    printf(", \"memcpy\": {\"bytes\": %zu, \"seconds\": %.6f, \"gb_per_s\": %.4f}", n, best, (double)n / best / 1e9);
    free(a);
    free(b);
  }

  /* ---- sequential writes: buffered + fsync into fresh memory, again at once (recycled page-cache
   * pages), and with O_DIRECT (no page cache) */
  if (write_mb > 0) {
    char path[4096];
    snprintf(path, sizeof path, "%s/limits-write-%d.tmp", write_dir, (int)getpid());
    const size_t block = (size_t)4 << 20;
    const long blocks = (write_mb + 3) / 4;
    const double bytes = (double)blocks * (double)block;
    unsigned char* buf = NULL;
    if (posix_memalign((void**)&buf, 4096, block) != 0) die("out of memory", NULL);
    for (size_t i = 0; i < block; ++i) buf[i] = (unsigned char)(i * 131u + 7u);
    double t_write = 0, t_total = 0, t_recycled = 0, t_direct = -1;
    for (int pass = 0; pass < 3; ++pass) {
      int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | (pass == 2 ? O_DIRECT : 0), 0644);
      if (fd < 0 && pass == 2) break; /* no O_DIRECT on this file system */
      if (fd < 0) die("cannot create", path);
      const double t0 = now(CLOCK_MONOTONIC);
      for (long i = 0; i < blocks; ++i) {
        size_t done = 0;
        buf[0] = (unsigned char)i;
        while (done < block) {
          ssize_t w = write(fd, buf + done, block - done);
          if (w <= 0) die("cannot write", path);
          done += (size_t)w;
        }
      }
      const double t1 = now(CLOCK_MONOTONIC) - t0;
      if (pass != 1 && fsync(fd) != 0) die("cannot fsync", path);
      const double t2 = now(CLOCK_MONOTONIC) - t0;
      close(fd);
      unlink(path);
      if (pass == 0) {
        t_write = t1;
        t_total = t2;
      } else if (pass == 1) {
        t_recycled = t1;
      } else {
        t_direct = t2;
      }
    }
    free(buf);
    printf(", \"write\": {\"bytes\": %.0f, \"seconds_write\": %.6f, \"seconds_write_fsync\": %.6f, "
           "\"page_cache_gb_per_s\": %.4f, \"fsync_gb_per_s\": %.4f, \"recycled_page_cache_gb_per_s\": %.4f, "
           "\"direct_gb_per_s\": %.4f}",
           bytes, t_write, t_total, bytes / t_write / 1e9, bytes / t_total / 1e9, bytes / t_recycled / 1e9,
           t_direct > 0 ? bytes / t_direct / 1e9 : 0.0);
  }

  /* ---- .trk walk */
  if (n_trk > 0) {
    int64_t total_bytes = 0, total_points = 0, total_streamlines = 0;
    double total_length = 0;
    for (int r = 0; r < reps; ++r) times[r] = cpu_times[r] = 0;
    for (int f = 0; f < n_trk; ++f) {
      size_t size;
      unsigned char* buf = slurp(trk[f], &size);
      float* points = xmalloc(size); /* at least as large as the points it holds */
      memset(points, 0, size);
      for (int r = 0; r < reps; ++r) {
        int64_t streamlines = 0;
        double length = 0;
        const double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
        const int64_t pts = trk_walk(buf, size, points, &length, &streamlines, trk[f]);
        times[r] += now(CLOCK_MONOTONIC) - t0;
        cpu_times[r] += now(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (r == 0) {
          total_points += pts;
          total_streamlines += streamlines;
          total_length += length;
        }
      }
      total_bytes += (int64_t)size;
      free(points);
      free(buf);
    }
    const double t = median(times, reps), c = median(cpu_times, reps);
    printf(", \"trk\": {\"files\": %d, \"bytes\": %lld, \"streamlines\": %lld, \"points\": %lld, "
           "\"mean_length_mm\": %.3f, \"seconds\": %.6f, \"cpu_seconds\": %.6f, \"gb_per_s\": %.4f, "
           "\"cpu_gb_per_s\": %.4f}",
           n_trk, (long long)total_bytes, (long long)total_streamlines, (long long)total_points,
           total_streamlines ? total_length / (double)total_streamlines : 0.0, t, c,
           (double)total_bytes / t / 1e9, (double)total_bytes / c / 1e9);
  }
  printf("}\n");
  free(times);
  free(cpu_times);
  return 0;
}
