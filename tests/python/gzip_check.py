"""Python's zlib and gzip modules as the independent side of tests/unit/test_gzip.cpp.

  gzip_check.py sums FILE            print FILE's CRC-32 and Adler-32 (decimal, one line)
  gzip_check.py members OUT IN...    write IN... as one gzip member each (levels 1, 6, 9, ...), OUT
  gzip_check.py inflate KIND IN OUT  decode IN (KIND raw: a raw deflate stream; gzip: gzip) to OUT
"""
import gzip
import sys
import zlib


def main(argv):
    if argv[0] == "sums":
        data = open(argv[1], "rb").read()
        print(zlib.crc32(data), zlib.adler32(data))
    elif argv[0] == "members":
        levels = [1, 6, 9]
        with open(argv[1], "wb") as out:
            for i, name in enumerate(argv[2:]):
                out.write(gzip.compress(open(name, "rb").read(), compresslevel=levels[i % 3], mtime=0))
    elif argv[0] == "inflate":
        packed = open(argv[2], "rb").read()
        if argv[1] == "raw":
            d = zlib.decompressobj(wbits=-15)
            data = d.decompress(packed)
            assert d.eof and not d.unused_data, "not one complete raw deflate stream"
        else:
            d = zlib.decompressobj(wbits=31)
            data = d.decompress(packed)
            assert d.eof and not d.unused_data, "not one complete gzip member"
        open(argv[3], "wb").write(data)
    else:
        sys.exit(f"unknown command {argv[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
